"""Training pipelines (sepsis on PhysioNet 2019, readmission on Diabetes-130), evaluation and ONNX export."""
