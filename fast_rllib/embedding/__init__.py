"""Task embeddings: frames through a convolutional autoencoder, descriptions through BERT."""
