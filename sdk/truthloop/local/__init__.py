"""The local backend: an emulator of GT and A2I that speaks the AWS wire protocols."""
