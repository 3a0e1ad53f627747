"""A word-level CLIP tokenizer for the small world, built without a hub.

It is a real ``CLIPTokenizer`` (``vocab.json`` + ``merges.txt``), so the ModelScope loader reads it as it
reads ModelScope's own. Its merges compose every word of the world's language into one token, so a caption
is one token per word (the byte-level tokenizer of the random ``tiny`` teachers spends one token per
character and truncated "a red circle moving left" to "a red circle movi"); a word outside the language
still encodes, one byte-level character per token.

The merges are found by running CLIP's BPE rule (repeatedly merge the adjacent pair of lowest rank) and
adding the merge each word still lacks, until every word of the vocabulary is a single token.
"""

from __future__ import annotations


from mcm.teachers.tiny import byte_level_alphabet
from mcm.world.spec import vocabulary

#: Tokens per caption, BOS and EOS included (the longest caption of the world has 11 words).
WORLD_TEXT_MAX_LENGTH = 16
BOS, EOS = "<|startoftext|>", "<|endoftext|>"
END_OF_WORD = "</w>"


def _bpe(word: str, ranks: dict[tuple[str, str], int]) -> list[str]:
    """CLIP's BPE of one pre-tokenised word (as ``CLIPTokenizer.bpe``), as a list of symbols."""
    symbols = list(word[:-1]) + [word[-1] + END_OF_WORD]
    while len(symbols) > 1:
        pairs = [(symbols[i], symbols[i + 1]) for i in range(len(symbols) - 1)]
        best = min(pairs, key=lambda p: ranks.get(p, float("inf")))
        if best not in ranks:
            break
        merged, i = [], 0
        while i < len(symbols):
            if i < len(symbols) - 1 and (symbols[i], symbols[i + 1]) == best:
                merged.append(symbols[i] + symbols[i + 1])
                i += 2
            else:
                merged.append(symbols[i])
                i += 1
        symbols = merged
    return symbols


def word_level_vocab_and_merges(words: list[str]) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """(vocab, merges) under which each of ``words`` is one token and any other text still encodes."""
    vocab = {BOS: 0, EOS: 1}
    for ch in byte_level_alphabet():
        vocab.setdefault(ch, len(vocab))
    for ch in byte_level_alphabet():
        vocab.setdefault(ch + END_OF_WORD, len(vocab))
    merges: list[tuple[str, str]] = []
    ranks: dict[tuple[str, str], int] = {}
    for word in words:
        while len(symbols := _bpe(word, ranks)) > 1:
            pair = (symbols[0], symbols[1])  # merge from the left until the word is whole
            ranks[pair] = len(merges)
            merges.append(pair)
            vocab.setdefault(pair[0] + pair[1], len(vocab))
    return vocab, merges


def build_world_tokenizer(max_length: int = WORLD_TEXT_MAX_LENGTH):
    """The world's ``CLIPTokenizer`` (in memory; ``save_pretrained`` writes it as a hub tokenizer folder)."""
    from transformers import CLIPTokenizer

    vocab, merges = word_level_vocab_and_merges(vocabulary())
    tok = CLIPTokenizer(vocab=vocab, merges=merges)
    tok.model_max_length = max_length
    return tok
