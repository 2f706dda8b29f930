"""A small transformer encoder classifier for token streams (issue 15):
token + learned position embeddings, nn.TransformerEncoder (LAYERS layers,
post-norm, ReLU), the mean over the real tokens (`pool`, the kNN
embedding), Linear (`head`). Called as model(tokens, padding) with tokens
int64 [batch, n] and padding bool [batch, n] (True at padded positions), as
python3 -m fastif_torch --field tokens passes them."""

import torch
from torch import nn


class MaskedMean(nn.Module):
    """The mean of h [batch, n, d] over the positions padding marks False."""

    def forward(self, h, padding):
        keep = (~padding).unsqueeze(-1).to(h.dtype)
        return (h * keep).sum(1) / keep.sum(1).clamp(min=1)


class TextEncoder(nn.Module):
    def __init__(self, vocab=8000, max_len=128, dim=64, heads=4, ff=128, layers=2, classes=2,
                 dropout=0.1):
        super().__init__()
        self.emb = nn.Embedding(vocab, dim, padding_idx=0)
        self.pos = nn.Embedding(max_len, dim)
        self.enc = nn.TransformerEncoder(
            nn.TransformerEncoderLayer(dim, heads, ff, dropout=dropout, batch_first=True), layers,
            enable_nested_tensor=False)
        self.pool = MaskedMean()
        self.head = nn.Linear(dim, classes)

    def forward(self, tokens, padding):
        n = tokens.shape[1]
        h = self.emb(tokens) + self.pos(torch.arange(n, device=tokens.device)).unsqueeze(0)
        h = self.enc(h, src_key_padding_mask=padding)
        return self.head(self.pool(h, padding))
