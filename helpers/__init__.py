"""Final versions of the components built in the course's notebooks, one module per concept.

Importing `helpers` (the set-up cell of every notebook does, and so does `python -m helpers.train`) lets idle OpenMP
threads sleep instead of spinning (OMP_WAIT_POLICY=PASSIVE, unless it is set already), so that a kernel or a trainer
sharing a busy machine does not steal other processes' cores. It takes effect only when torch is imported later.
"""

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
