"""Errors of the crawler stage (see pipeline.errors for the whole tree)."""

from pipeline.errors import CatalogError


class NoData(CatalogError):
    """The dataset has no processed objects to crawl."""


class PartitionLayoutError(CatalogError):
    """The dataset's folders do not make one partitioned table (files under different keys or
    depths, a folder key that is also a column)."""


class CatalogConflict(CatalogError):
    """The table changed in the catalog while the crawler applied its plan; crawling again
    plans from the new state."""

    retryable = True
