"""helpers.evaluate_responses: ROUGE-L equal to the rouge-score package, the book's judge prompt, the Ollama client
against a local stand-in server (a reply, a missing model, no server, a server that never answers: clear errors, no
hang), and the offline judge's expected score."""

from __future__ import annotations

import http.server
import json
import socket
import threading
import time
from collections.abc import Iterator

import pytest
import torch

from helpers.evaluate_responses import (
    JUDGE_SCORES,
    OllamaError,
    RougeScore,
    generate_model_scores,
    judge_prompt,
    lcs_length,
    local_judge,
    ollama_running,
    pairwise_agreement,
    parse_score,
    query_model,
    rouge_l,
    rouge_tokens,
)
from helpers.instruct import format_input, load_book_responses

# --- ROUGE-L -----------------------------------------------------------------------------------------------------


def test_rouge_l_equals_the_rouge_score_package_on_the_books_110_answers():
    rouge_scorer = pytest.importorskip("rouge_score.rouge_scorer")
    scorer = rouge_scorer.RougeScorer(["rougeL"])
    responses = load_book_responses()
    for entry in responses:
        expected = scorer.score(entry["output"], entry["model_response"])["rougeL"]
        ours = rouge_l(entry["output"], entry["model_response"])
        assert ours == pytest.approx(RougeScore(expected.precision, expected.recall, expected.fmeasure), abs=1e-12)
    mean = sum(rouge_l(e["output"], e["model_response"]).fmeasure for e in responses) / len(responses)
    assert mean == pytest.approx(0.5832, abs=1e-4)


def test_rouge_l_by_hand():
    assert rouge_tokens("The cat's mat, 2024!") == ["the", "cat", "s", "mat", "2024"]
    assert lcs_length("abcbdab", "bdcaba") == 4 and lcs_length([], [1]) == 0
    score = rouge_l("The cat sat on the mat.", "The cat lay on the mat.")
    assert score.precision == score.recall == score.fmeasure == pytest.approx(5 / 6)
    assert rouge_l("a b", "") == RougeScore(0.0, 0.0, 0.0) == rouge_l("a", "b")
    # overlap is not correctness: the book's wrong "cumulus" scores high
    cloud = rouge_l("The type of cloud typically associated with thunderstorms is cumulonimbus.",
                    "The type of cloud associated with thunderstorms is a cumulus cloud.")
    assert cloud.fmeasure == pytest.approx(0.7619, abs=1e-4)
    with pytest.raises(TypeError, match="text must be a str, got NoneType"):
        rouge_l("a", None)


def test_pairwise_agreement():
    assert pairwise_agreement([1, 2, 3], [0.1, 0.2, 0.3]) == 1.0
    assert pairwise_agreement([1, 2, 3], [0.3, 0.2, 0.1]) == 0.0
    assert pairwise_agreement([1, 2, 3], [1, 3, 2]) == pytest.approx(2 / 3)
    assert pairwise_agreement([1, 1, 2], [5, 6, 7]) == 1.0  # the tie of the first score is left out
    with pytest.raises(ValueError, match="equally long"):
        pairwise_agreement([1, 2], [1])
    with pytest.raises(ValueError, match="no pair of answers is told apart by both scores"):
        pairwise_agreement([100, 100], [0.1, 0.2])


# --- the judge's prompt and scores -------------------------------------------------------------------------------


def test_judge_prompt_is_the_books():
    entry = load_book_responses()[0]
    assert judge_prompt(entry) == (
        f"Given the input `{format_input(entry)}` and correct output `The car is as fast as lightning.`, score the "
        "model response `The car is as fast as a bullet.` on a scale from 0 to 100, where 100 is the best score. "
        "Respond with the integer number only.")
    with pytest.raises(ValueError, match="lacks the field \\['answer'\\]"):
        judge_prompt(entry, json_key="answer")


@pytest.mark.parametrize(("reply", "score"), [("85", 85), (" 85\n", 85), ("Score: 85.", 85), ("100", 100),
                                              ("0", 0), ("101", None), ("8.5", None), ("-5", None), ("none", None)])
def test_parse_score(reply, score):
    assert parse_score(reply) == score


def test_generate_model_scores_keeps_one_score_per_entry():
    entries = load_book_responses()[:3]
    replies = iter(["90", "I cannot score this", "40"])
    prompts = []

    def query(prompt):
        prompts.append(prompt)
        return next(replies)

    assert generate_model_scores(entries, "model_response", query, progress=False) == [90, None, 40]
    assert prompts == [judge_prompt(entry) for entry in entries]


# --- Ollama, against a local stand-in --------------------------------------------------------------------------


class FakeOllama(http.server.BaseHTTPRequestHandler):
    mode = "ok"  # "ok", "missing" (no such model), "hang" (never answers), "garbage" (not Ollama)
    requests: list[dict] = []

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        if self.mode == "hang":
            time.sleep(3)
            return
        body = json.dumps({"models": [{"name": "llama3:latest"}]}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:  # noqa: N802
        FakeOllama.requests.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        if self.mode == "hang":
            time.sleep(3)
            return
        if self.mode == "missing":
            body = b'{"error":"model \\"llama3\\" not found, try pulling it first"}'
            self.send_response(404)
        elif self.mode == "garbage":
            body = b"<html>not ollama</html>\n"
            self.send_response(200)
        else:
            lines = [{"message": {"role": "assistant", "content": part}, "done": False} for part in ("8", "5")]
            body = "".join(json.dumps(line) + "\n" for line in [*lines, {"message": {"content": ""}, "done": True}])
            body = body.encode()
            self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def ollama() -> Iterator[tuple[str, type[FakeOllama]]]:
    handler = type("Handler", (FakeOllama,), {"mode": "ok"})
    FakeOllama.requests = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", handler
    finally:
        server.shutdown()
        server.server_close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_query_model_sends_the_books_request_and_joins_the_streamed_reply(ollama):
    url, _ = ollama
    assert ollama_running(url)
    assert query_model("Score this.", url=url) == "85"
    assert FakeOllama.requests[-1] == {"model": "llama3", "messages": [{"role": "user", "content": "Score this."}],
                                       "options": {"seed": 123, "temperature": 0, "num_ctx": 2048}}


def test_no_server_is_said_at_once(tmp_path):
    url = f"http://127.0.0.1:{free_port()}"
    start = time.perf_counter()
    assert not ollama_running(url)
    with pytest.raises(OllamaError, match=r"no Ollama server answers at http://127.0.0.1:\d+ .*ollama serve.*"
                                          r"ollama pull llama3.*local_judge"):
        query_model("Hi", url=url)
    assert time.perf_counter() - start < 2


def test_a_missing_model_says_which_command_gets_it(ollama):
    url, handler = ollama
    handler.mode = "missing"
    with pytest.raises(OllamaError, match=r"has no model 'llama3' .*not found.*: get it with `ollama pull llama3`"):
        query_model("Hi", url=url)


def test_a_server_that_never_answers_times_out_with_a_message(ollama):
    url, handler = ollama
    handler.mode = "hang"
    start = time.perf_counter()
    assert not ollama_running(url, timeout=0.3)
    with pytest.raises(OllamaError, match="did not answer within 0.5 seconds"):
        query_model("Hi", url=url, timeout=0.5)
    assert time.perf_counter() - start < 2.5


def test_a_server_that_is_not_ollama_is_named(ollama):
    url, handler = ollama
    handler.mode = "garbage"
    with pytest.raises(OllamaError, match="does not answer as Ollama's /api/chat does"):
        query_model("Hi", url=url)


# --- the offline judge ---------------------------------------------------------------------------------------------


class StubTokenizer:
    """Digits and a few words as single tokens; <|im_end|> is id 2, as SmolLM2's."""

    special_tokens = {"<|im_start|>": 1, "<|im_end|>": 2}

    def encode(self, text, allowed_special=()):
        ids = []
        for special in self.special_tokens:
            text = text.replace(special, f" {special} ")
        for piece in text.split():
            ids.append(self.special_tokens.get(piece, 10 + sum(map(ord, piece)) % 50))
        return ids

    def decode(self, ids):
        return " ".join(str(i) for i in ids)


def test_the_offline_judge_returns_its_expected_score():
    from helpers.llama import LlamaModel
    from helpers.smollm2 import chat_token_ids

    cfg = {"vocab_size": 64, "context_length": 512, "emb_dim": 16, "n_heads": 2, "n_kv_groups": 1, "n_layers": 2,
           "hidden_dim": 32, "rope_base": 10000.0, "rms_norm_eps": 1e-5, "tie_weights": True}
    torch.manual_seed(123)
    model = LlamaModel(cfg).eval()
    tokenizer = StubTokenizer()
    prompt = judge_prompt(load_book_responses()[0])
    reply = local_judge(model, tokenizer)(prompt)
    # the same without a KV cache: each whole reply's log-probability after the prompt, from one forward pass
    ids = chat_token_ids(tokenizer, [{"role": "user", "content": prompt}])
    log_probs = []
    for value in JUDGE_SCORES:
        answer = tokenizer.encode(str(value)) + [2]
        with torch.no_grad():
            logits = torch.log_softmax(model(torch.tensor([ids + answer[:-1]]))[0], dim=-1)
        log_probs.append(sum(logits[len(ids) - 1 + k, t].item() for k, t in enumerate(answer)))
    weights = torch.softmax(torch.tensor(log_probs, dtype=torch.float64), dim=0)
    assert reply == str(round(sum(w * v for w, v in zip(weights.tolist(), JUDGE_SCORES, strict=True))))
    assert 0 <= parse_score(reply) <= 100
    assert isinstance(local_judge(model, tokenizer, expected=False, max_new_tokens=2)(prompt), str)
    with pytest.raises(TypeError, match="expected must be True or False"):
        local_judge(model, tokenizer, expected="yes")
