"""Helpers shared by the test suites: images, processes, a terminal client."""
