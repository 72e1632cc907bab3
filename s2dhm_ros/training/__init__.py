"""Retraining the VGG16-NetVLAD retrieval backbone on posed images (the paper's NV-r, Section 5.2)."""
