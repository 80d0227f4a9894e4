"""What front ends and workers share: the wire protocol, errors and settings."""
