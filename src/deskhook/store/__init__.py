"""The data: the `Store` contract and its backends (a subpackage each), and the in-process parts
in front of it that ingest and delivery share: group commit batching writes
(`group_commit.py`) and the channel directory caching channels for matching and delivery
(`directory.py`)."""
