"""Static costs, no run needed: instructions per element of the CPU kernels (cpucost) and of the CUDA kernels' SASS
(sass)."""
