"""What one request to the local emulator costs: CPU in the moto server and in the boto3 client,
for each kind of request a small file's trip through the stack makes.

Why: the local stack's throughput of small files is bounded by CPU, and every stage reaches the
one emulator process over HTTP (``bench.latency`` counts about nine requests per file). This
measures the price of each, alone, on an emulator of its own:

    python -m bench.requests               # 500 of each
    python -m bench.requests --count 2000 --listed 5000
    python -m bench.requests --durable     # the emulator as the stack runs it: journaled

The server's CPU is read from Linux's /proc (the emulator process, every thread), the client's
from this process's own usage; both are divided by the number of requests. Objects and messages
are the size a small file's are (a 5-row CSV, an S3 event). The listing is of a prefix holding
``--listed`` objects (1,000 by default, one page), as a Glue pass lists each dataset it reads.
CPU time comes in ticks (10 ms on Linux): use a count that makes each kind take a second or more.
Figures depend on the machine; read them beside ``bench.latency``'s, from the same machine.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench.load import free_port
from emulators.aws_emulator import AwsEmulator
from pipeline import storage
from pipeline.aws import Clients
from pipeline.settings import load_settings, replace

BUCKET = "csvpipe-bench-requests"
BODY = b"".join(f"{i},Film {i} (1999),Drama|Comedy\n".encode() for i in range(5))
EVENT = json.dumps(
    {
        "Records": [
            {
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "eventName": "ObjectCreated:Put",
                "s3": {
                    "bucket": {"name": "csv-raw-data-bucket"},
                    "object": {"key": "movies/small-00001.csv", "size": len(BODY), "eTag": "0" * 32},
                },
            }
        ]
    }
)


def _process_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _measure(pid: int, count: int, request: Callable[[int], object]) -> tuple[float, float, float]:
    """(server ms, client ms, wall ms) per request, over ``count`` requests."""
    server, client, wall = _process_cpu(pid), _own_cpu(), time.perf_counter()
    for n in range(count):
        request(n)
    return tuple(  # type: ignore[return-value]
        1000 * spent / count
        for spent in (_process_cpu(pid) - server, _own_cpu() - client, time.perf_counter() - wall)
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.requests", description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=500, help="requests of each kind (default 500)")
    parser.add_argument(
        "--listed", type=int, default=1000, help="objects in the listed prefix (default 1000)"
    )
    parser.add_argument(
        "--durable",
        action="store_true",
        help="journal every write before answering, as the stack's emulator does (emulators.durable)",
    )
    args = parser.parse_args(argv)
    if not Path("/proc/self/stat").exists():
        print("bench.requests reads CPU time from Linux's /proc", file=sys.stderr)
        return 1
    count = max(args.count, 10)
    with tempfile.TemporaryDirectory(prefix="csvpipe-bench-requests-") as home:
        port = free_port()
        state = Path(home) / "journal" if args.durable else None
        emulator = AwsEmulator("127.0.0.1", port, Path(home) / "emulator.log", state).start()
        try:
            settings = replace(load_settings(), endpoint_url=emulator.endpoint, emulator_port=port)
            clients = Clients(settings)
            s3, sqs = clients.s3, clients.sqs
            s3.create_bucket(Bucket=BUCKET)
            queue = sqs.create_queue(QueueName="csvpipe-bench-requests")["QueueUrl"]
            for n in range(max(args.listed, 1)):
                s3.put_object(Bucket=BUCKET, Key=f"listed/{n:06d}.csv", Body=BODY)
            pid = emulator.process.pid if emulator.process else 0
            handles: list[str] = []

            def receive(_: int) -> None:
                handles.extend(
                    m["ReceiptHandle"]
                    for m in sqs.receive_message(
                        QueueUrl=queue, MaxNumberOfMessages=1, AttributeNames=["ApproximateReceiveCount"]
                    ).get("Messages", [])
                )

            kinds: list[tuple[str, int, Callable[[int], object]]] = [
                ("S3 PutObject", count, lambda n: s3.put_object(Bucket=BUCKET, Key=f"k/{n}.csv", Body=BODY)),
                (
                    "S3 GetObject",
                    count,
                    lambda n: s3.get_object(Bucket=BUCKET, Key=f"k/{n}.csv")["Body"].read(),
                ),
                ("S3 DeleteObject", count, lambda n: s3.delete_object(Bucket=BUCKET, Key=f"gone/{n}.csv")),
                ("SQS SendMessage", count, lambda n: sqs.send_message(QueueUrl=queue, MessageBody=EVENT)),
                ("SQS ReceiveMessage (1)", count, receive),
                (
                    "SQS DeleteMessage",
                    count // 2,
                    lambda n: sqs.delete_message(QueueUrl=queue, ReceiptHandle=handles[n]),
                ),
                (
                    "SQS DeleteMessageBatch (10)",
                    count // 20,
                    lambda n: sqs.delete_message_batch(
                        QueueUrl=queue,
                        Entries=[
                            {"Id": str(i), "ReceiptHandle": h}
                            for i, h in enumerate(handles[count // 2 + 10 * n : count // 2 + 10 * n + 10])
                        ],
                    ),
                ),
                (
                    f"S3 list of {max(args.listed, 1):,} objects",
                    max(count // 50, 5),
                    lambda n: storage.list_objects(s3, BUCKET, "listed/"),
                ),
            ]
            print(f"{'request':<30} {'server CPU':>11} {'client CPU':>11} {'wall':>9}   (ms per request)")
            for name, times, request in kinds:
                server, client, wall = _measure(pid, times, request)
                print(f"{name:<30} {server:>11.2f} {client:>11.2f} {wall:>9.2f}")
        finally:
            emulator.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
