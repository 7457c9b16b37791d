"""What is measured: the op specs and their float64 references, the registry of implementations, devices and inputs."""
