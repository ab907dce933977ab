"""What the deployed pipeline would cost on AWS per month: ``csvpipe cost``.

Why: a Glue crawler and a Glue job per batch of files can cost more than everything else
together, and the choice (who runs the Glue stages, how many files per run) is the user's. The
package keeps the parts apart, as every stage does:

    prices.toml   the offline, dated price table, each price with its source
    prices.py     reading it (I/O), choosing a region
    usage.py      usage per file from the local run records (pure), and reading them offline
                  from the embedded emulator's saved state (I/O)
    model.py      the formulas and the estimate's line items (pure)
    exceptions.py CostError
"""
