"""The SimPy e-commerce world, fraud patterns with ground truth, scenarios and producers."""
