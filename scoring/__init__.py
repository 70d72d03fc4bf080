"""Scoring engine: one feature spec, ONNX models with exact SHAP, NEWS2/qSOFA, registry and policy."""
