"""What the benchmarks in scripts/ share, a module a job: `figures` (percentiles, verdicts and
the figures written with `--results`), `proc` (memory and CPU read from /proc), `load` (a
channel, and events streamed or paced), `processes` (servers in processes of their own) and
`receiver` (the HTTPS webhook receiver in a process of its own)."""
