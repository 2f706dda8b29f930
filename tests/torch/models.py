"""Models for tests/16-torch.t's command-line checks (loaded by
python3 -m fastif_torch --model tests/torch/models.py:CLASS)."""

import torch
from torch import nn


class SmallCNN(nn.Module):
    """1x6x6 images: Conv2d, ReLU, max-pool, Linear, ReLU, Linear."""

    def __init__(self, channels=4, classes=3):
        super().__init__()
        self.conv = nn.Conv2d(1, channels, 3, padding=1)
        self.pool = nn.MaxPool2d(2)
        self.fc1 = nn.Linear(channels * 9, 8)
        self.fc2 = nn.Linear(8, classes)

    def forward(self, x):
        h = self.pool(torch.relu(self.conv(x)))
        return self.fc2(torch.relu(self.fc1(h.flatten(1))))


class TinyEncoder(nn.Module):
    """Token classifier: embedding, one TransformerEncoderLayer, masked mean, Linear."""

    def __init__(self, vocab=20, dim=8, classes=3):
        super().__init__()
        self.emb = nn.Embedding(vocab, dim)
        self.enc = nn.TransformerEncoder(
            nn.TransformerEncoderLayer(dim, 2, 32, dropout=0.0, batch_first=True), 1,
            enable_nested_tensor=False)
        self.head = nn.Linear(dim, classes)

    def forward(self, tokens, padding):
        h = self.enc(self.emb(tokens), src_key_padding_mask=padding)
        keep = (~padding).unsqueeze(-1).float()
        return self.head((h * keep).sum(1) / keep.sum(1))
