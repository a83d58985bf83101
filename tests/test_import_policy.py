"""What a dropped image may switch the model and LoRAs to (studio.core.import_policy): paths inside
Studio's model folders or among the artist's models are used, anything else is matched by name or
hash against the artist's models or reported as not found."""

from __future__ import annotations

import os

import pytest

from studio.core.import_policy import KnownModel, ModelHints, offer_for, vet_models
from studio.core.request import GenerationRequest

STUDIO = ModelHints(names_model=True, names_loras=True)  # Studio's own JSON: model and LoRAs are meaningful


@pytest.fixture
def place(tmp_path):
    """A models folder with a checkpoint and a LoRA, a bundled model folder, and a folder outside."""
    models, bundled, outside = tmp_path / "models", tmp_path / "bundled" / "studio-shapes", tmp_path / "outside"
    for folder in (models, bundled, outside):
        folder.mkdir(parents=True)
    (models / "dreamy.safetensors").write_bytes(b"m")
    (models / "ink.safetensors").write_bytes(b"l")
    (outside / "evil.safetensors").write_bytes(b"x")
    (outside / "dreamy.safetensors").write_bytes(b"x")
    known = [KnownModel(str(models / "dreamy.safetensors"), "dreamy.safetensors", sha256="abcdef0123" + "9" * 54),
             KnownModel(str(models / "ink.safetensors"), "ink.safetensors", is_lora=True),
             KnownModel(str(bundled), "studio-shapes (bundled)")]
    return {"models": models, "bundled": bundled, "outside": outside, "known": known,
            "roots": [str(models), str(bundled)]}


def vet(place, request, hints=STUDIO):
    return vet_models(request, hints, place["known"], place["roots"], str(place["bundled"]))


def test_a_model_inside_the_models_folder_is_offered_as_it_is(place):
    path = str(place["models"] / "dreamy.safetensors")
    vetted = vet(place, GenerationRequest("x", model=path))
    assert (vetted.model, vetted.missing) == (path, ())
    offer = offer_for(vetted, "", ())
    assert offer is not None and offer.model == path and offer.loras is None
    assert "dreamy.safetensors" in offer.text
    assert offer_for(vetted, path, ()) is None  # already chosen: nothing to ask


def test_a_path_outside_the_model_folders_is_never_used(place):
    evil = str(place["outside"] / "evil.safetensors")  # exists, but is nobody's listed model
    vetted = vet(place, GenerationRequest("x", model=evil))
    assert vetted.model is None
    assert vetted.missing == ("model evil.safetensors is not found among your models",)
    assert offer_for(vetted, "", ()) is None  # the current model stays


def test_an_outside_path_is_matched_by_name_to_the_artists_own_model(place):
    vetted = vet(place, GenerationRequest("x", model=str(place["outside"] / "dreamy.safetensors")))
    assert vetted.model == str(place["models"] / "dreamy.safetensors")  # not the file outside
    other_machine = vet(place, GenerationRequest("x", model="C:\\Users\\someone\\models\\Dreamy.safetensors"))
    assert other_machine.model == str(place["models"] / "dreamy.safetensors")


def test_escaping_the_models_folder_by_dots_or_a_link_is_refused(place):
    dots = str(place["models"] / ".." / "outside" / "evil.safetensors")
    assert vet(place, GenerationRequest("x", model=dots)).model is None
    link = place["models"] / "link.safetensors"
    os.symlink(place["outside"] / "evil.safetensors", link)
    assert vet(place, GenerationRequest("x", model=str(link))).model is None


def test_another_tools_model_name_or_hash_finds_a_known_model(place):
    by_name = vet(place, GenerationRequest("x"), ModelHints(model_name="dreamy"))
    assert by_name.model == str(place["models"] / "dreamy.safetensors")
    by_hash = vet(place, GenerationRequest("x"), ModelHints(model_name="renamed", model_hash="ABCDEF0123"))
    assert by_hash.model == str(place["models"] / "dreamy.safetensors")
    unknown = vet(place, GenerationRequest("x"), ModelHints(model_name="v1-5-pruned-emaonly", model_hash="6ce0161689"))
    assert unknown.model is None and unknown.missing == ("model v1-5-pruned-emaonly is not found among your models",)


def test_another_tools_image_without_a_model_name_changes_nothing(place):
    vetted = vet(place, GenerationRequest("x"), ModelHints())  # request.model "" is not "the bundled model" here
    assert (vetted.model, vetted.loras, vetted.missing) == (None, None, ())
    assert offer_for(vetted, str(place["models"] / "dreamy.safetensors"), (("ink", 1.0),)) is None


def test_the_bundled_model_is_named_as_the_picker_names_it(place):
    assert vet(place, GenerationRequest("x", model="")).model == ""
    elsewhere = vet(place, GenerationRequest("x", model="/other/checkout/resources/models/studio-shapes"))
    assert elsewhere.model == ""
    offer = offer_for(elsewhere, str(place["models"] / "dreamy.safetensors"), ())
    assert offer is not None and offer.model == "" and "the bundled model" in offer.text
    assert offer_for(elsewhere, "", ()) is None


def test_loras_found_are_offered_and_missing_ones_reported(place):
    ink = str(place["models"] / "ink.safetensors")
    request = GenerationRequest("x", loras=((ink, 0.6), (str(place["outside"] / "evil.safetensors"), 1.0)))
    vetted = vet(place, request)
    assert vetted.loras == ((ink, 0.6),)
    assert vetted.missing == ("LoRA evil.safetensors is not found among your LoRAs",)
    offer = offer_for(vetted, "", ())
    assert offer is not None and offer.model is None and offer.loras == ((ink, 0.6),)
    assert offer_for(vetted, "", ((ink, 0.6),)) is None


def test_a_lora_is_not_matched_to_a_model_of_the_same_name_nor_the_other_way(place):
    as_lora = vet(place, GenerationRequest("x", loras=(("/far/away/dreamy.safetensors", 1.0),)))
    assert as_lora.loras is None and as_lora.missing == ("LoRA dreamy.safetensors is not found among your LoRAs",)
    as_model = vet(place, GenerationRequest("x", model="/far/away/ink.safetensors"))
    assert as_model.model is None


def test_an_image_made_without_loras_offers_to_untick_yours(place):
    vetted = vet(place, GenerationRequest("x"))
    offer = offer_for(vetted, "", ((str(place["models"] / "ink.safetensors"), 1.0),))
    assert offer is not None and offer.loras == () and offer.model is None
    assert "no LoRAs" in offer.text
