"""workbench.profiles: only None takes the profile's value; list settings are lists."""

from __future__ import annotations

import pytest

from workbench.errors import ParameterError
from workbench.profiles import PROFILE_NAMES, PROFILES, notebook_settings, profile_settings


@pytest.mark.parametrize("value", [0, 0.0, "", False])
def test_falsy_overrides_are_real_choices(value):
    assert profile_settings("data", "default", max_examples=value)["max_examples"] == value
    assert profile_settings("schedules", "smoke", max_steps=value)["max_steps"] == value


def test_none_takes_the_profiles_value():
    settings = profile_settings("tokenization", "smoke", vocab_size=None, downstream_vocab_sizes=None)
    assert settings == PROFILES["tokenization"]["smoke"]
    assert profile_settings("tokenization", "smoke", vocab_size=700)["vocab_size"] == 700


def test_list_settings_are_lists_of_their_items_type():
    for profile in PROFILE_NAMES:
        tokenization = profile_settings("tokenization", profile)
        augmentation = profile_settings("augmentation", profile)
        compression = profile_settings("compression", profile)
        assert all(type(v) is int for v in tokenization["downstream_vocab_sizes"])
        assert all(type(v) is int and (v == 0 or v >= 2) for v in augmentation["train_sizes"])  # 0: whole split
        assert all(type(v) is float for v in augmentation["alphas"])
        assert all(type(v) is int for v in augmentation["n_augs"])
        assert all(type(v) is str for v in augmentation["ablation_recipes"] + compression["variants"])
    assert profile_settings("tokenization", "default")["downstream_vocab_sizes"] == [1000, 4000, 16000]
    assert profile_settings("augmentation", "default")["train_sizes"] == [500, 2000]


def test_no_setting_is_a_comma_separated_list():
    for notebook, profiles in PROFILES.items():
        for profile, settings in profiles.items():
            for key, value in settings.items():
                # Model specs (tiny:num_layers=1,hidden_size=32) are one value with key=value parts.
                assert not (isinstance(value, str) and "," in value and "=" not in value), (notebook, profile, key)


def test_list_values_can_be_changed_without_touching_the_profile():
    settings = profile_settings("compression", "smoke")
    settings["variants"].append("qat_int8")
    assert "qat_int8" not in PROFILES["compression"]["smoke"]["variants"]


def test_profile_values_the_technique_functions_accept():
    from workbench.augmentation import MODEL_RECIPES, RECIPES, _as_numbers, _as_sizes
    from workbench.compression import check_variant_names

    for profile in PROFILE_NAMES:
        augmentation = profile_settings("augmentation", profile)
        assert _as_sizes(augmentation["train_sizes"], "test") == augmentation["train_sizes"]
        assert _as_numbers(augmentation["alphas"], "alphas", "test", float, 0.0, 1.0) == augmentation["alphas"]
        assert set(augmentation["ablation_recipes"]) <= set(RECIPES) - set(MODEL_RECIPES)
        variants = profile_settings("compression", profile)["variants"]
        assert check_variant_names(variants, "test") == variants


def test_unknown_override_is_rejected_with_the_known_names():
    with pytest.raises(ParameterError, match=r"overrides of profile_settings must be settings of 'data' "
                                             r"\(finetune_epochs, .*\)\. Got 'epochs' instead"):
        profile_settings("data", "smoke", epochs=3)


def test_changing_the_settings_leaves_the_callers_arguments_alone():
    recipes = ["eda"]
    settings = profile_settings("augmentation", "smoke", ablation_recipes=recipes)
    settings["ablation_recipes"] += ["synonym"]
    assert recipes == ["eda"]


def test_notebook_settings_take_the_parameters_cells_names_only():
    namespace = {"profile": "smoke", "max_length": 0, "finetune_epochs": None, "n_resamples": 7, "seed": 5}
    settings = notebook_settings("data", namespace)
    # max_length is a parameter of the data notebook: 0 is a choice; None leaves the profile's value;
    # n_resamples is a setting but not a parameter of the notebook, so a stray global does not change it.
    assert settings["max_length"] == 0
    assert settings["finetune_epochs"] == PROFILES["data"]["smoke"]["finetune_epochs"]
    assert settings["n_resamples"] == PROFILES["data"]["smoke"]["n_resamples"]
    with pytest.raises(ParameterError, match="'profile' parameter of notebook_settings"):
        notebook_settings("data", {"profile": "huge"})


def test_notebook_settings_read_the_callers_globals():
    globals()["profile"] = "smoke"
    try:
        assert notebook_settings("tokenization") == profile_settings("tokenization", "smoke")
    finally:
        del globals()["profile"]
