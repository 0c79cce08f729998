"""Scoring a model's answers to instructions: text overlap (ROUGE-L) and a model as judge, through Ollama or offline.

Built in notebooks/10_instruction_finetuning.ipynb, section 7.8 ("Evaluating the fine-tuned LLM"): `rouge_l` (with
`rouge_tokens` and `lcs_length`) in "Beyond the book: a text-overlap score, ROUGE-L", and the book's judge:
`judge_prompt`, `query_model` (Llama 3 through an Ollama server, found by `ollama_running` without ever hanging),
`generate_model_scores`, and `local_judge`, the offline stand-in (the SmolLM2 of notebooks/08_llama.ipynb, a far weaker
judge, read as its expected score). `pairwise_agreement` says how often two scores rank two answers the same way.
"""

from __future__ import annotations

import http.client
import json
import re
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from itertools import combinations, pairwise
from typing import Any, NamedTuple

import torch
from torch import nn
from tqdm.auto import tqdm

from helpers.checks import ShortTraceback, check_flag, check_int, check_text
from helpers.generate import new_kv_caches
from helpers.instruct import check_entry, format_input
from helpers.smollm2 import IM_END, chat, chat_token_ids

__all__ = [
    "JUDGE_SCORES",
    "OLLAMA_URL",
    "OllamaError",
    "RougeScore",
    "generate_model_scores",
    "judge_prompt",
    "lcs_length",
    "local_judge",
    "ollama_running",
    "pairwise_agreement",
    "parse_score",
    "query_model",
    "rouge_l",
    "rouge_tokens",
]

OLLAMA_URL = "http://localhost:11434"  # where `ollama serve` listens by default


# --- a text-overlap score: ROUGE-L ------------------------------------------------------------------------------------


class RougeScore(NamedTuple):
    """ROUGE-L of a candidate against a reference: the share of the candidate's words (precision) and of the
    reference's (recall) in their longest common subsequence, and the harmonic mean of the two (fmeasure)."""

    precision: float
    recall: float
    fmeasure: float


def rouge_tokens(text: str) -> list[str]:
    """The words ROUGE compares: lower case, runs of letters and digits (as the `rouge-score` package, no stemming)."""
    return re.findall(r"[a-z0-9]+", check_text(text).lower())


def lcs_length(a: Sequence[Any], b: Sequence[Any]) -> int:
    """The length of the longest common subsequence of `a` and `b` (in order, not necessarily adjacent)."""
    previous = [0] * (len(b) + 1)
    for x in a:
        current = [0]
        for j, y in enumerate(b):
            current.append(previous[j] + 1 if x == y else max(previous[j + 1], current[j]))
        previous = current
    return previous[-1]


def rouge_l(reference: str, candidate: str) -> RougeScore:
    """ROUGE-L of `candidate` against `reference` (0 when either has no words); equals rouge-score's "rougeL"."""
    ref, cand = rouge_tokens(reference), rouge_tokens(candidate)
    common = lcs_length(ref, cand)
    if common == 0:
        return RougeScore(0.0, 0.0, 0.0)
    precision, recall = common / len(cand), common / len(ref)
    return RougeScore(precision, recall, 2 * precision * recall / (precision + recall))


def pairwise_agreement(scores_a: Sequence[float], scores_b: Sequence[float]) -> float:
    """Of the pairs of answers that both scores tell apart, the share that they order the same way (0 to 1)."""
    if len(scores_a) != len(scores_b):
        raise ValueError(f"both score lists must be equally long, got {len(scores_a)} and {len(scores_b)}")
    same = differ = 0
    for i, j in combinations(range(len(scores_a)), 2):
        a, b = scores_a[i] - scores_a[j], scores_b[i] - scores_b[j]
        if a and b:
            same += (a > 0) == (b > 0)
            differ += (a > 0) != (b > 0)
    if same + differ == 0:
        raise ValueError("no pair of answers is told apart by both scores: nothing to compare")
    return same / (same + differ)


# --- a model as judge: the book's prompt -------------------------------------------------------------------------


def judge_prompt(entry: Mapping[str, str], json_key: str = "model_response") -> str:
    """The book's request to a judge: the prompt, the correct output and the answer in `json_key`, scored 0 to 100."""
    entry = check_entry(entry, fields=("instruction", "input", "output", json_key))
    return (f"Given the input `{format_input(entry)}` and correct output `{entry['output']}`, score the model response "
            f"`{entry[json_key]}` on a scale from 0 to 100, where 100 is the best score. Respond with the integer "
            "number only.")


def parse_score(reply: str) -> int | None:
    """The judge's score: the reply's first whole number if it lies in 0..100 ("85", "Score: 85."), else None."""
    found = re.search(r"(?<![\d.-])\d{1,3}(?![\d.]\d)", check_text(reply))
    if found is None or int(found.group()) > 100:
        return None
    return int(found.group())


def generate_model_scores(
    entries: Sequence[Mapping[str, str]], json_key: str, query: Callable[[str], str], *, progress: bool = True,
) -> list[int | None]:
    """The judge's score of each entry's `json_key` answer (`query` sends a prompt and returns the reply), None
    where the reply holds no score from 0 to 100. One per entry, in order (the book's keeps only the parsed ones)."""
    return [parse_score(query(judge_prompt(entry, json_key)))
            for entry in tqdm(entries, desc="Scoring entries", disable=not progress)]


JUDGE_SCORES = tuple(range(0, 101, 10))  # the replies the offline judge weighs: 0, 10, ..., 100


def _expected_score(model: nn.Module, prompt_ids: list[int], replies: list[list[int]], values: Sequence[int]) -> float:
    """The average of `values`, each weighted by the model's probability of its reply (token ids) after the prompt.

    One pass over the prompt fills the KV caches; each reply then costs one step per token, and the caches are cut
    back to the prompt before the next."""
    caches = new_kv_caches(model)
    device = model.tok_emb.weight.device
    with torch.no_grad():
        first = torch.log_softmax(model(torch.tensor([prompt_ids], device=device), caches)[0, -1], dim=-1)
        log_probs = []
        for reply in replies:
            total = first[reply[0]].item()
            for token, next_token in pairwise(reply):
                logits = model(torch.tensor([[token]], device=device), caches)[0, -1]
                total += torch.log_softmax(logits, dim=-1)[next_token].item()
            for cache in caches:
                cache.crop(len(prompt_ids))
            log_probs.append(total)
    weights = torch.softmax(torch.tensor(log_probs, dtype=torch.float64), dim=0)
    return float(sum(w * v for w, v in zip(weights.tolist(), values, strict=True)))


def local_judge(model: nn.Module, tokenizer: Any, expected: bool = True, max_new_tokens: int = 8
                ) -> Callable[[str], str]:
    """A judge that runs offline: `query(prompt)` sends the prompt to the chat model (SmolLM2-135M-Instruct).

    A model of 135 million parameters rarely answers with a number as asked (`expected=False` returns its free greedy
    reply of up to `max_new_tokens` tokens, to see it). So by default the judge's score is its expected score: the
    average of the replies 0, 10, ..., 100, each weighted by the probability the model gives that whole reply (ended
    by its end token), as G-Eval (Liu et al., 2023) weighs score tokens; returned rounded, as text. Either way a weak
    judge: Ollama's Llama 3 has 8 billion parameters."""
    check_flag(expected, "expected")
    check_int(max_new_tokens, "max_new_tokens")
    end_id = tokenizer.special_tokens[IM_END]
    replies = [tokenizer.encode(str(value)) + [end_id] for value in JUDGE_SCORES]

    def query(prompt: str) -> str:
        messages = [{"role": "user", "content": check_text(prompt, "the prompt")}]
        if not expected:
            return chat(model, tokenizer, messages, max_new_tokens=max_new_tokens)
        was_training = model.training
        model.eval()
        score = _expected_score(model, chat_token_ids(tokenizer, messages), replies, JUDGE_SCORES)
        model.train(was_training)
        return str(round(score))

    return query


# --- Ollama: the book's judge, when a server runs ----------------------------------------------------------------


class OllamaError(ShortTraceback, ConnectionError):
    """No usable Ollama server: none answers, it lacks the model, or it answered something else. Says what to do."""


_START_OLLAMA = ("Install Ollama (https://ollama.com), start it with `ollama serve` in a terminal and get the book's "
                 "judge with `ollama pull llama3`; without it, score with the offline judge (`local_judge`)")


def ollama_running(url: str = OLLAMA_URL, timeout: float = 0.5) -> bool:
    """Whether an Ollama server answers at `url` within `timeout` seconds (never longer: no hang when none runs)."""
    try:
        with urllib.request.urlopen(f"{url.rstrip('/')}/api/tags", timeout=timeout) as response:
            return "models" in json.loads(response.read().decode("utf-8"))
    except (OSError, ValueError, http.client.HTTPException):
        return False


def query_model(prompt: str, model: str = "llama3", url: str = OLLAMA_URL, timeout: float = 120.0) -> str:
    """The reply of `model` on the Ollama server at `url` to `prompt` (the book's `query_model`: seed 123,
    temperature 0, a context of 2,048 tokens). An `OllamaError` says what is wrong when no server answers, the model
    is missing or the server stops answering for `timeout` seconds."""
    data = {"model": model, "messages": [{"role": "user", "content": check_text(prompt, "the prompt")}],
            "options": {"seed": 123, "temperature": 0, "num_ctx": 2048}}
    chat_url = f"{url.rstrip('/')}/api/chat"
    request = urllib.request.Request(chat_url, data=json.dumps(data).encode("utf-8"), method="POST",
                                     headers={"Content-Type": "application/json"})
    reply = ""
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            for line in response:  # the server streams one JSON object per line
                if line.strip():
                    reply += json.loads(line.decode("utf-8"))["message"]["content"]
    except urllib.error.HTTPError as err:
        detail = err.read().decode("utf-8", "replace").strip()
        if err.code == 404:
            raise OllamaError(f"the Ollama server at {url} has no model {model!r} ({detail}): get it with "
                              f"`ollama pull {model}`") from None
        raise OllamaError(f"the Ollama server at {url} answered HTTP {err.code}: {detail}") from None
    except TimeoutError:
        raise OllamaError(f"the Ollama server at {url} did not answer within {timeout:g} seconds; is it busy "
                          "loading the model? Try again, or pass a longer timeout") from None
    except urllib.error.URLError as err:
        raise OllamaError(f"no Ollama server answers at {url} ({err.reason}). {_START_OLLAMA}") from None
    except (ValueError, KeyError, http.client.HTTPException) as err:
        raise OllamaError(f"the server at {url} does not answer as Ollama's /api/chat does ({err!r:.80})") from None
    return reply
