"""Keep a member's arithmetic independent of how many members train beside it.

On AVX-512 CPUs MKL chooses its GEMM kernels by matrix shape, so a member's layer-1
sums round differently inside an ensemble of 64 than alone (measured on AMD EPYC);
MKL's AVX2 code path does not. The setting takes effect when it precedes the first MKL
call of the process; a user's own ``MKL_CBWR`` wins.
"""

import os

os.environ.setdefault("MKL_CBWR", "AVX2")
