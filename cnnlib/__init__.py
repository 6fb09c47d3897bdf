"""cnnlib: a convolutional network from scratch in NumPy."""
