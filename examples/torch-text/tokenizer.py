"""A simple word tokenizer for fastif text examples (import-text output):
lower-cased runs of letters, digits and apostrophes (HTML tags such as
<br /> dropped), a vocabulary of the VOCAB-2 most frequent training words
(ties by first appearance), id 0 = padding, 1 = unknown, at most MAX_LEN
tokens per text (the first ones). Adds `tokens` i32 [n] to each record and
keeps the rest (id, text, label, label_name).

    python3 tokenizer.py --build-vocab vocab.json [--vocab 8000] < train.mp > train-tok.mp
    python3 tokenizer.py --vocab-file vocab.json [--max-len 128] < test.mp > test-tok.mp"""

import argparse
import collections
import json
import os
import re
import sys

import numpy as np

import fastif_stream as fs          # PYTHONPATH=python

WORD = re.compile(r"[a-z0-9']+")
TAG = re.compile(r"<[^>]*>")


def words(text):
    return WORD.findall(TAG.sub(" ", text.lower()))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--build-vocab", metavar="FILE", help="build the vocabulary from stdin, write it to FILE")
    g.add_argument("--vocab-file", metavar="FILE", help="use the vocabulary in FILE")
    p.add_argument("--vocab", type=int, default=8000, help="vocabulary size, padding and unknown included")
    p.add_argument("--max-len", type=int, default=128)
    a = p.parse_args()
    recs = list(fs.read_stream(sys.stdin.buffer))
    if a.build_vocab:
        counts = collections.Counter()
        for r in recs:
            counts.update(words(r["text"]))
        top = sorted(counts.items(), key=lambda kv: -kv[1])[:a.vocab - 2]   # stable: first seen first
        vocab = {w: i + 2 for i, (w, _) in enumerate(top)}
        tmp = a.build_vocab + ".tmp"
        with open(tmp, "w") as f:
            json.dump({"max_len": a.max_len, "words": vocab}, f)
        os.replace(tmp, a.build_vocab)
    else:
        with open(a.vocab_file) as f:
            v = json.load(f)
        vocab, a.max_len = v["words"], v["max_len"]
    out = sys.stdout.buffer
    for r in recs:
        t = [vocab.get(w, 1) for w in words(r["text"])][:a.max_len] or [1]
        r = dict(r)
        r["tokens"] = np.array(t, dtype=np.int32)
        fs.write_record(out, r)
    print(f"tokenizer.py: done {len(recs)} records, vocabulary {len(vocab) + 2}", file=sys.stderr)


if __name__ == "__main__":
    main()
