"""The character LM: shapes, tied embeddings, cached decoding, generation, configuration errors."""

from __future__ import annotations

import pytest
import torch

from cubit_lite.mixers import MIXER_NAMES
from cubit_lite.model import CharLM, ModelConfig


def tiny(mixer="transformer", **changes):
    values = dict(vocab_size=17, block_size=24, n_layer=2, n_head=2, d_model=16, mixer=mixer)
    values.update(changes)
    return ModelConfig(**values)


@pytest.mark.parametrize("mixer", MIXER_NAMES)
@pytest.mark.parametrize("positions", ["learned", "rotary"])
def test_cached_forward_equals_full_forward(mixer, positions):
    torch.manual_seed(0)
    model = CharLM(tiny(mixer, positions=positions)).double().eval()
    idx = torch.randint(0, 17, (2, 20))
    full, _ = model(idx)
    caches = model.new_caches()
    pieces = [model(idx[:, :6], caches=caches)[0]] + [model(idx[:, t : t + 1], caches=caches)[0] for t in range(6, 20)]
    torch.testing.assert_close(torch.cat(pieces, dim=1), full, atol=1e-12, rtol=0)


def test_loss_is_the_mean_cross_entropy_and_starts_near_log_vocab():
    torch.manual_seed(0)
    model = CharLM(tiny())
    idx, targets = torch.randint(0, 17, (4, 24)), torch.randint(0, 17, (4, 24))
    logits, loss = model(idx, targets)
    assert logits.shape == (4, 24, 17)
    expected = torch.nn.functional.cross_entropy(logits.reshape(-1, 17), targets.reshape(-1))
    torch.testing.assert_close(loss, expected)
    assert abs(loss.item() - torch.log(torch.tensor(17.0)).item()) < 0.2  # small init: near uniform


def test_embeddings_are_tied_and_counted_once():
    model = CharLM(tiny())
    assert model.head.weight is model.token_embedding.weight
    unique = {id(p): p.numel() for p in model.parameters()}
    assert model.num_parameters() == sum(unique.values())


def test_mixers_differ_only_in_the_mixer():
    counts = {name: CharLM(tiny(name)).num_parameters() for name in MIXER_NAMES}
    assert counts["llr"] == counts["transformer"]
    assert counts["cubit"] > counts["cubit-nolrr"] > counts["cubit-share"] > counts["transformer"]


MIXER_OWN = ("mixer.reference.", "mixer.rescale.", "mixer.beta.", "mixer.log_lam", "mixer.log_ref_scale",
             "mixer.lrr_bounds")


@pytest.mark.parametrize("other", [m for m in MIXER_NAMES if m != "transformer"])
@pytest.mark.parametrize("positions", ["learned", "rotary"])
def test_one_seed_gives_every_shared_parameter_the_same_start(other, positions):
    """A Transformer and another mixer built with one seed start from identical shared tensors
    (embeddings, norms, MLPs, q/k/v/o, head); only the mixer's own parameters are extra."""
    torch.manual_seed(1)  # the global generator's state must not matter
    base = dict(CharLM(tiny(positions=positions), seed=7).named_parameters())
    torch.manual_seed(2)
    variant = dict(CharLM(tiny(other, positions=positions), seed=7).named_parameters())
    assert set(base) <= set(variant)
    assert all(any(tag in name for tag in MIXER_OWN) for name in set(variant) - set(base))
    for name, tensor in base.items():
        assert torch.equal(tensor, variant[name]), name
    assert len(base) >= 2 + 2 * 8  # embedding, final norm, and 8 shared tensors a layer were compared


def test_seeds_give_different_draws_and_the_usual_scales():
    config = tiny(n_layer=4, d_model=64, vocab_size=50)
    a, b = CharLM(config, seed=0), CharLM(config, seed=1)
    assert not torch.equal(a.blocks[0].mixer.query.weight, b.blocks[0].mixer.query.weight)
    assert not torch.equal(a.blocks[0].mixer.query.weight, a.blocks[0].mixer.key.weight)  # one stream per tensor
    weights = torch.cat([blk.mlp.up.weight.flatten() for blk in a.blocks])
    assert weights.mean().abs() < 0.002 and weights.std().item() == pytest.approx(0.02, rel=0.03)
    residual = torch.cat([blk.mixer.out.weight.flatten() for blk in a.blocks])
    assert residual.std().item() == pytest.approx(0.02 / (2 * 4) ** 0.5, rel=0.05)
    assert a.head.weight is a.token_embedding.weight


def test_building_a_model_leaves_the_global_generator_one_draw_on():
    """Without a seed the model draws one from the global generator and nothing else, so the
    random numbers after building (dropout masks, data) do not depend on the mixer."""
    after = {}
    for mixer in ("transformer", "cubit"):
        torch.manual_seed(3)
        CharLM(tiny(mixer))
        after[mixer] = torch.rand(4)
    torch.manual_seed(3)
    torch.randint(0, 2**62, ())
    torch.testing.assert_close(after["transformer"], torch.rand(4), rtol=0, atol=0)
    torch.testing.assert_close(after["cubit"], after["transformer"], rtol=0, atol=0)
    torch.manual_seed(3)
    unseeded = CharLM(tiny())
    torch.manual_seed(3)
    assert torch.equal(CharLM(tiny()).blocks[1].mlp.up.weight, unseeded.blocks[1].mlp.up.weight)


def test_a_bad_seed_is_refused():
    with pytest.raises(ValueError, match="seed must be an integer or None; got '0'"):
        CharLM(tiny(), seed="0")


def test_deltaformer_beta_starts_at_one_inside_a_model():
    model = CharLM(tiny("deltaformer"))
    mixer = model.blocks[0].mixer
    assert torch.equal(mixer.betas(torch.randn(1, 3, 16)), torch.ones(1, 2, 3))


def test_generate_is_reproducible_and_slides_past_the_block_size():
    torch.manual_seed(0)
    model = CharLM(tiny("cubit"))
    prompt = torch.randint(0, 17, (2, 5))
    run = lambda: model.generate(prompt, 60, temperature=0.9, top_k=5, generator=torch.Generator().manual_seed(3))  # noqa: E731
    first, second = run(), run()
    assert first.shape == (2, 65) and torch.equal(first, second)
    assert torch.equal(first[:, :5], prompt)


def test_top_k_one_is_greedy():
    torch.manual_seed(0)
    model = CharLM(tiny()).eval()
    prompt = torch.randint(0, 17, (1, 4))
    out = model.generate(prompt, 1, top_k=1)
    assert out[0, -1].item() == model(prompt)[0][0, -1].argmax().item()


@pytest.mark.parametrize("change, message", [
    ({"mixer": "mamba"}, "unknown mixer 'mamba'"),
    ({"positions": "alibi"}, "positions must be one of learned, rotary"),
    ({"d_model": 15}, "divisible"),
    ({"dropout": 1.0}, "dropout"),
    ({"block_size": 0}, "block_size must be a positive integer"),
    ({"mixer": "transformer", "mixer_options": {"lam": 1.0}}, "does not take option\\(s\\) lam"),
    ({"mixer": "cubit", "mixer_options": {"rotary": True}}, "positions='rotary'"),
])
def test_bad_configurations_are_refused(change, message):
    with pytest.raises(ValueError, match=message):
        CharLM(tiny(**change))


def test_learned_positions_refuse_contexts_longer_than_the_block():
    model = CharLM(tiny())
    with pytest.raises(ValueError, match="block_size = 24"):
        model(torch.zeros(1, 25, dtype=torch.long))


@pytest.mark.parametrize("bad, message", [
    ({"temperature": 0}, "temperature"),
    ({"temperature": float("nan")}, "temperature must be a number between 0.001 and 1000"),
    ({"temperature": True}, "temperature"),
    ({"top_k": 0}, "top_k"),
    ({"max_new_tokens": -1}, "max_new_tokens must be an integer >= 0; got -1"),
    ({"idx": torch.full((1, 2), 17)}, "idx holds token id 17, outside the model's vocabulary: ids are 0 to 16"),
    ({"idx": torch.zeros(1, 2)}, "idx must hold integer token ids; got dtype torch.float32"),
    ({"idx": torch.zeros(2, dtype=torch.long)}, "idx must be a \\(B, T\\) tensor"),
    ({"idx": torch.zeros(0, 2, dtype=torch.long)}, "with B, T >= 1; got shape \\(0, 2\\)"),
])
def test_generate_checks_its_arguments(bad, message):
    model = CharLM(tiny())
    arguments = {"idx": torch.zeros(1, 2, dtype=torch.long), "max_new_tokens": 3, **bad}
    with pytest.raises(ValueError, match=message):
        model.generate(**arguments)
    with pytest.raises(ValueError, match=message):
        model.stream(**arguments)  # checked at the call, before the first token
