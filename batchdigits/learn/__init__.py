"""The classifier: models, training, augmentation, adaptation and evaluation."""
