"""Malformed recipes and templates: each gives one clear line naming file, key path and problem."""

from __future__ import annotations

import pytest
import yaml

from mmdata.errors import MmdataError
from mmdata.recipe.build import build
from mmdata.recipe.config import load_recipe
from mmdata.recipe.templates import TemplateBank

GOOD = {"name": "r", "sources": [{"dataset": "vqav2", "path": "sources/vqav2"}]}


def recipe_with(tmp_path, mutate):
    import copy

    data = copy.deepcopy(GOOD)
    mutate(data)
    p = tmp_path / "r.yaml"
    p.write_text(yaml.safe_dump(data))
    return p


CASES = [
    (lambda d: d.pop("name"), "field 'name': required key is missing"),
    (lambda d: d.pop("sources"), "field 'sources': required key is missing"),
    (lambda d: d.update(sources=[]), "field 'sources': List should have at least 1 item"),
    (lambda d: d.update(colour="red"), "field 'colour': unknown key"),
    (lambda d: d["sources"][0].update(dataset="vqa2"), "field 'sources[0].dataset': unknown dataset 'vqa2'"),
    (lambda d: d["sources"][0].update(pathh="x"), "field 'sources[0].pathh': unknown key"),
    (lambda d: d["sources"][0].update(task="vqa"), "field 'sources[0].task': unknown task 'vqa'"),
    (lambda d: d["sources"][0].update(languages=["xx"]), "field 'sources[0].languages': unknown language 'xx'"),
    (lambda d: d.update(balance={"strategy": "uniform"}), "field 'balance.strategy': Input should be"),
    (lambda d: d.update(templates={"inverted_ratio": 1.5}), "field 'templates.inverted_ratio': Input should be less than or equal to 1"),
    (lambda d: d.update(multiturn={"threshold": -0.1}), "field 'multiturn.threshold': Input should be greater than or equal to 0"),
    (lambda d: d.update(multiturn={"max_turns": 0}), "field 'multiturn.max_turns': Input should be greater than or equal to 1"),
    (lambda d: d.update(balance={"strategy": "tuned", "weights": {}}), "needs a weight for every source; missing: ['vqav2']"),
    (lambda d: d.update(balance={"weights": {"gqa": 1}}), "balance.weights names datasets not in sources: ['gqa']"),
    (lambda d: d["sources"].append(dict(d["sources"][0])), "dataset(s) listed twice in sources: ['vqav2']"),
    (lambda d: d.update(output={"formats": ["llava"]}), "field 'output.formats': parquet is always written"),
    (lambda d: d.update(output={"formats": ["csv"]}), "field 'output.formats[0]': Input should be"),
    (lambda d: d.update(seed="zero"), "field 'seed': Input should be a valid integer"),
    (lambda d: d.update(templates={"granularity": "medium"}), "field 'templates.granularity': Input should be 'fine' or 'coarse'"),
    (lambda d: d.update(balance={"weights": {"vqav2": -1}}), "field 'balance.weights.vqav2': Input should be greater than 0"),
]


@pytest.mark.parametrize(("mutate", "expected"), CASES)
def test_malformed_recipe(tmp_path, mutate, expected):
    p = recipe_with(tmp_path, mutate)
    with pytest.raises(MmdataError) as e:
        load_recipe(p)
    msg = str(e.value)
    assert msg.startswith(str(p)) and expected in msg and "\n" not in msg


def test_invalid_yaml_names_line(tmp_path):
    p = tmp_path / "r.yaml"
    p.write_text("name: r\nsources: [\n  - {dataset: vqav2\n")
    with pytest.raises(MmdataError, match=r"r\.yaml: invalid YAML: line \d+"):
        load_recipe(p)


def test_recipe_must_be_mapping(tmp_path):
    p = tmp_path / "r.yaml"
    p.write_text("- a\n- b\n")
    with pytest.raises(MmdataError, match="a recipe must be a YAML mapping, got list"):
        load_recipe(p)


def test_set_overrides_and_their_errors(tmp_path):
    p = recipe_with(tmp_path, lambda d: None)
    r, _ = load_recipe(p, ["seed=7", "balance.strategy=per-task", "sources.0.max_turns=3", "multiturn.dedup=semantic"])
    assert r.seed == 7 and r.balance.strategy == "per-task" and r.sources[0].max_turns == 3 and r.multiturn.dedup == "semantic"
    with pytest.raises(MmdataError, match="--set expects key.path=value"):
        load_recipe(p, ["seed"])
    with pytest.raises(MmdataError, match="no list item '4' at sources.4"):
        load_recipe(p, ["sources.4.path=x"])
    with pytest.raises(MmdataError, match="field 'balance.strategy': Input should be"):
        load_recipe(p, ["balance.strategy=random"])


def test_preset_needs_root_and_missing_source_path(tmp_path):
    with pytest.raises(MmdataError, match="preset 'honeybee' needs a data root: pass --set root=WORLD_DIR"):
        load_recipe("honeybee")
    p = recipe_with(tmp_path, lambda d: d.update(root=str(tmp_path / "nowhere")))
    with pytest.raises(MmdataError, match="source path for 'vqav2' does not exist"):
        build(p, tmp_path / "out")
    assert not (tmp_path / "out").exists()


# ---- templates ------------------------------------------------------------------------------


def template_dir(tmp_path, body: str, kind: str = "coarse", name: str = "vqa_open.yaml"):
    d = tmp_path / "tpl"
    (d / kind).mkdir(parents=True)
    (d / kind / name).write_text(body)
    return d


TEMPLATE_CASES = [
    ("task: vqa_open\ntemplates: [\n", "invalid YAML"),
    ("task: vqa\ntemplates: [{id: a, inverted: false, user: x, assistant: y}]", "field 'task': unknown task 'vqa'"),
    ("task: vqa_open\ntemplates: [{id: a, inverted: false, user: '{{ question ', assistant: y}]", "record a: field 'user': Jinja syntax error"),
    ("task: vqa_open\ntemplates: [{id: a, inverted: false, assistant: y}]", "record a: field 'user': missing required key"),
    ("task: vqa_open\ntemplates: [{id: a, inverted: no_bool, user: x, assistant: y}]", "record a: field 'inverted': expected bool"),
    ("task: vqa_open\ntemplates: [{id: a, inverted: false, user: x, assistant: y, colour: red}]", "record a: field 'colour': unknown key"),
    ("task: vqa_open\ntemplates: [{id: a, inverted: false, user: x, assistant: y}, {id: a, inverted: true, user: x, assistant: y}]",
     "record a: field 'id': duplicate template id"),
    ("templates: [{id: a, inverted: false, user: x, assistant: y}]", "field 'task': missing required key"),
]


@pytest.mark.parametrize(("body", "expected"), TEMPLATE_CASES)
def test_malformed_template_files(tmp_path, body, expected):
    d = template_dir(tmp_path, body)
    with pytest.raises(MmdataError) as e:
        TemplateBank.load(d)
    assert expected in str(e.value) and "vqa_open.yaml" in str(e.value)


def test_undefined_variable_and_sandbox(tmp_path):
    from mmdata.recipe.check import check_templates

    d = template_dir(tmp_path, "task: vqa_open\ntemplates: [{id: a, inverted: false, user: '{{ questoin }}', assistant: '{{ answer }}'}]")
    with pytest.raises(MmdataError, match="template a: 'questoin' is undefined"):
        check_templates(d)
    d2 = template_dir(tmp_path / "2", "task: vqa_open\ntemplates: [{id: b, inverted: false, user: \"{{ question.__class__.__mro__ }}\", assistant: x}]")
    with pytest.raises(MmdataError, match="template b"):
        check_templates(d2)


def test_fine_file_needs_dataset(tmp_path):
    d = template_dir(tmp_path, "task: vqa_open\ntemplates: [{id: a, inverted: false, user: x, assistant: y}]", kind="fine", name="x.yaml")
    with pytest.raises(MmdataError, match="fine template files must name their dataset"):
        TemplateBank.load(d)
