"""Readers that turn files on disk into uint8 images and int32 labels."""
