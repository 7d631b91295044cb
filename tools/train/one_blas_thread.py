"""Imported for its side effect, before numpy or torch, by every training and evaluation entry
point: OpenBLAS gets one thread unless OPENBLAS_NUM_THREADS says otherwise.

Why: Debian's torch and numpy run the LSTM's small matrix products on the system OpenBLAS, which
starts a worker per core that busy-waits between calls. With torch.set_num_threads(1) (the
configs' "threads": 1) each training job still kept a second thread spinning at ~11 % of a core
(17 million involuntary context switches in its first 4 minutes), and the two jobs that share this 2-core
machine slowed each other. OpenBLAS reads the variable once, when numpy or torch loads it."""

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
