"""Training: LeNet-5 on MNIST with any implementation as its activation, and the activation's share of a step."""
