"""Serving: artifact loading (registry), ONNX inference, exact TreeSHAP and score assembly."""
