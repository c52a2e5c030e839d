"""Predicted time per op, layer and model on named devices, from exact FLOPs and bytes moved."""
from .api import predict, record_events
from .devices import Device, catalog, find_device
from .model import Prediction, Terms, predict_events

__all__ = ["predict", "record_events", "Device", "catalog", "find_device", "Prediction", "Terms",
           "predict_events"]
