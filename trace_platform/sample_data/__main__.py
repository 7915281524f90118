"""`python -m trace_platform.sample_data --worker`: a child process running work units for
`workers.run_in_workers` (one unit spec per stdin line, one result per stdout line).

To generate sample data, use `trace-platform generate` (or `trace_platform.sample_data.generate`).
"""

import sys

from trace_platform.sample_data.workers import worker_main

if sys.argv[1:] == ["--worker"]:
    worker_main()
else:
    sys.exit(
        "usage: python -m trace_platform.sample_data --worker (to generate data: trace-platform generate)"
    )
