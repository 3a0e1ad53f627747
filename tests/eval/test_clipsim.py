import torch
import torch.nn.functional as F

from mcm.eval.clipsim import CLIPSim


def test_clipsim_equals_direct_cosine(tiny_clip):
    model, tokenizer = tiny_clip
    scorer = CLIPSim(model, tokenizer, batch_size=5)
    torch.manual_seed(0)
    videos = torch.rand(3, 4, 3, 32, 32)  # already at the model's image size: preprocessing = normalisation
    prompts = ["a cat runs", "waves on a beach", "dog"]
    got = scorer(videos, prompts)

    with torch.no_grad():
        tokens = tokenizer(prompts, padding=True, return_tensors="pt")
        txt = model.get_text_features(**tokens).pooler_output
        expected = []
        for v, t in zip(videos, txt):
            pixels = (v - scorer.mean) / scorer.std
            img = model.get_image_features(pixel_values=pixels).pooler_output
            expected.append(F.cosine_similarity(img, t.unsqueeze(0), dim=-1).mean())
    torch.testing.assert_close(got, torch.stack(expected), rtol=1e-5, atol=1e-6)
    assert got.abs().max() > 1e-3


def test_clipsim_resizes_other_sizes(tiny_clip):
    model, tokenizer = tiny_clip
    scorer = CLIPSim(model, tokenizer)
    assert scorer.preprocess(torch.rand(2, 3, 40, 64)).shape == (2, 3, 32, 32)
