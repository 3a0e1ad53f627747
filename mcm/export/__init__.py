"""Export of a distilled student: stock-diffusers formats (diffusers_student), ONNX parts checked against
PyTorch with onnxruntime (onnx_parts), TensorRT engines built from them where CUDA and TensorRT exist
(tensorrt_engines). ``mcm export`` is the command."""
