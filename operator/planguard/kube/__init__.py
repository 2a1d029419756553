"""Kubernetes access that is not kopf's: status patches, finalizers, events, deletes."""
