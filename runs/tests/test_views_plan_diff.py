"""runs.plan_diff: grouping, before → after, masking of sensitive and redacted values, unknown values."""

from __future__ import annotations

import json

from iac.redaction import MASK
from runs.plan_diff import (
    _ABSENT,
    REDACTED_TEXT,
    SENSITIVE_TEXT,
    UNKNOWN_TEXT,
    action_of,
    attribute_changes,
    flatten,
    line_diff,
    marked_paths,
    output_values,
    plan_diff,
    resource_diff,
)


def rc(address, actions, before=None, after=None, **change):
    kind, name = address.split(".")[-2:]
    return {
        "address": address,
        "type": kind,
        "name": name,
        "change": {"actions": actions, "before": before, "after": after, **change},
    }


def attrs(resource):
    return {a.path: a for a in resource.attributes}


def test_actions_map_to_groups():
    assert action_of(["create"]) == "create"
    assert action_of(["update"]) == "update"
    assert action_of(["delete", "create"]) == "replace"
    assert action_of(["create", "delete"]) == "replace"
    assert action_of(["delete"]) == "delete"
    assert action_of(["no-op"]) is None and action_of(["read"]) is None and action_of([]) is None


def test_groups_in_plan_order_and_noops_dropped():
    plan = {
        "resource_changes": [
            rc("aws_s3_bucket.a", ["create"], after={"bucket": "a"}),
            rc("aws_instance.web", ["update"], before={"x": 1}, after={"x": 2}),
            rc("aws_s3_bucket.b", ["create"], after={"bucket": "b"}),
            rc("aws_vpc.main", ["no-op"], before={"id": "v"}, after={"id": "v"}),
            rc("aws_db_instance.db", ["delete", "create"], before={"a": 1}, after={"a": 2}),
            rc("aws_kms_key.old", ["delete"], before={"arn": "k"}),
        ]
    }
    diff = plan_diff(plan)
    assert diff.counts == {"create": 2, "update": 1, "replace": 1, "delete": 1}
    assert [r.address for r in diff.groups["create"]] == ["aws_s3_bucket.a", "aws_s3_bucket.b"]
    assert [g for g, _ in diff.nonempty_groups()] == ["create", "update", "replace", "delete"]
    assert not diff.is_empty


def test_update_lists_only_changed_attributes_before_after():
    plan = {
        "resource_changes": [
            rc(
                "aws_instance.web",
                ["update"],
                before={"instance_type": "t3.micro", "ami": "ami-1", "tags": {"Env": "dev", "Team": "a"}},
                after={"instance_type": "t3.medium", "ami": "ami-1", "tags": {"Env": "dev", "Team": "b"}},
            )
        ]
    }
    web = attrs(plan_diff(plan).groups["update"][0])
    assert set(web) == {"instance_type", "tags.Team"}
    assert (web["instance_type"].before, web["instance_type"].after) == ('"t3.micro"', '"t3.medium"')
    assert web["tags.Team"].after == '"b"'


def test_create_shows_set_values_and_unknown_after_apply():
    plan = {
        "resource_changes": [
            rc(
                "aws_s3_bucket.logs",
                ["create"],
                after={"bucket": "acme-logs", "force_destroy": False, "policy": None, "tags": {}},
                after_unknown={"arn": True, "id": True, "tags_all": True},
            )
        ]
    }
    bucket = attrs(plan_diff(plan).groups["create"][0])
    assert "policy" not in bucket  # unset on a create: noise
    assert bucket["bucket"].before is None and bucket["bucket"].after == '"acme-logs"'
    assert bucket["force_destroy"].after == "false"
    assert bucket["tags"].after == "{}"
    assert bucket["arn"].after == UNKNOWN_TEXT and bucket["arn"].unknown
    assert bucket["tags_all"].unknown


def test_update_becoming_unknown_is_listed():
    plan = {
        "resource_changes": [
            rc(
                "aws_instance.web",
                ["update"],
                before={"private_ip": "10.0.0.5"},
                after={},
                after_unknown={"private_ip": True},
            )
        ]
    }
    row = attrs(plan_diff(plan).groups["update"][0])["private_ip"]
    assert (row.before, row.after, row.unknown) == ('"10.0.0.5"', UNKNOWN_TEXT, True)


def test_sensitive_values_are_masked_even_if_present():
    # A plan that was (wrongly) not redacted still never shows a value the provider marks sensitive.
    plan = {
        "resource_changes": [
            rc(
                "aws_db_instance.db",
                ["update"],
                before={"password": "old-secret", "port": 5432, "nested": {"token": "t1", "ok": "x"}},
                after={"password": "new-secret", "port": 5432, "nested": {"token": "t2", "ok": "x"}},
                before_sensitive={"password": True, "nested": {"token": True}},
                after_sensitive={"password": True, "nested": {"token": True}},
            )
        ]
    }
    db = plan_diff(plan).groups["update"][0]
    rows = attrs(db)
    assert rows["password"].before == SENSITIVE_TEXT and rows["password"].after == SENSITIVE_TEXT
    assert rows["password"].masked
    assert rows["nested.token"].after == SENSITIVE_TEXT
    assert "port" not in rows and "nested.ok" not in rows
    rendered = repr(db)
    assert "old-secret" not in rendered and "new-secret" not in rendered and "t2" not in rendered


def test_whole_value_sensitive_masks_every_attribute():
    plan = {
        "resource_changes": [
            rc("aws_secret.s", ["create"], after={"a": "1", "b": {"c": "2"}}, after_sensitive=True)
        ]
    }
    rows = attrs(plan_diff(plan).groups["create"][0])
    assert {r.after for r in rows.values()} == {SENSITIVE_TEXT}


def test_redacted_values_show_as_redacted_and_equal_masks_are_not_dropped():
    plan = {
        "resource_changes": [
            rc(
                "aws_db_instance.db",
                ["update"],
                before={"master_password": MASK, "note": f"key {MASK} here", "size": 1},
                after={"master_password": MASK, "note": f"key {MASK} here", "size": 2},
            )
        ]
    }
    rows = attrs(plan_diff(plan).groups["update"][0])
    assert rows["master_password"].before == REDACTED_TEXT and rows["master_password"].masked
    assert rows["note"].after == REDACTED_TEXT
    assert rows["size"].after == "2"


def test_replace_marks_forcing_attributes_and_reason():
    change = rc(
        "aws_instance.web",
        ["delete", "create"],
        before={"ami": "ami-1", "instance_type": "t3.micro"},
        after={"ami": "ami-2", "instance_type": "t3.micro"},
        replace_paths=[["ami"]],
    )
    change["action_reason"] = "replace_because_cannot_update"
    web = plan_diff({"resource_changes": [change]}).groups["replace"][0]
    rows = attrs(web)
    assert set(rows) == {"ami"} and rows["ami"].forces_replacement
    assert web.reason == "replace_because_cannot_update"


def test_delete_shows_what_goes():
    plan = {"resource_changes": [rc("aws_kms_key.k", ["delete"], before={"arn": "arn:k", "policy": None})]}
    rows = attrs(plan_diff(plan).groups["delete"][0])
    assert set(rows) == {"arn"} and rows["arn"].before == '"arn:k"' and rows["arn"].after is None


def test_outputs_masked_and_unknown():
    plan = {
        "output_changes": {
            "url": {"actions": ["create"], "after": None, "after_unknown": True},
            "password": {"actions": ["create"], "after": "hunter22", "after_sensitive": True},
            "same": {"actions": ["no-op"], "before": "x", "after": "x"},
        }
    }
    rows = {o.path: o for o in plan_diff(plan).outputs}
    assert set(rows) == {"url", "password"}
    assert rows["url"].after == UNKNOWN_TEXT
    assert rows["password"].after == SENSITIVE_TEXT


def test_garbage_in_gives_an_empty_diff():
    assert plan_diff(None).is_empty
    assert plan_diff({"resource_changes": ["nope", {"change": {}}]}).is_empty


def test_paths_for_lists_and_odd_keys():
    flat = flatten({"a": [{"b": 1}, 2], "x y": "z", "e": []})
    assert flat == {"a[0].b": 1, "a[1]": 2, '["x y"]': "z", "e": []}
    assert marked_paths({"a": [False, {"b": True}], "c": True}) == {"a[1].b", "c"}


def test_output_values_masks_sensitive():
    rows = output_values(
        {
            "url": {"value": "http://x", "sensitive": False, "type": "string"},
            "pw": {"value": "secret!", "sensitive": True},
            "plain": 3,
        }
    )
    assert rows == [("plain", "3", False), ("pw", SENSITIVE_TEXT, True), ("url", '"http://x"', False)]


def test_json_document_attributes_get_a_line_diff():
    before = json.dumps({"Statement": [{"Action": ["s3:GetObject"], "Effect": "Allow"}]})
    after = json.dumps({"Statement": [{"Action": ["s3:GetObject", "s3:ListBucket"], "Effect": "Allow"}]})
    change = {"actions": ["update"], "before": {"policy": before}, "after": {"policy": after}}
    (row,) = attribute_changes(change, "update")
    assert ("+", '        "s3:ListBucket"') in row.lines
    assert ("-", '        "s3:GetObject"') in row.lines and ("+", '        "s3:GetObject",') in row.lines
    assert all(op == " " for op, text in row.lines if '"Effect": "Allow"' in text)


def test_line_diff_never_shows_hidden_or_unknown_values():
    doc = json.dumps({"token": "abc"})
    change = {
        "actions": ["update"],
        "before": {"secret_doc": doc, "later": doc},
        "after": {"secret_doc": json.dumps({"token": "xyz"})},
        "after_unknown": {"later": True},
        "after_sensitive": {"secret_doc": True},
    }
    rows = {r.path: r for r in attribute_changes(change, "update")}
    assert rows["secret_doc"].masked and rows["secret_doc"].lines == ()
    assert rows["later"].unknown and rows["later"].lines == ()


def test_plain_values_get_no_line_diff_and_create_documents_are_all_added():
    assert line_diff("a", "b") == () and line_diff(3, 4) == ()
    assert line_diff(_ABSENT, "[1]") == (("+", "["), ("+", "  1"), ("+", "]"))
    assert line_diff("one\ntwo", "one\nthree") == ((" ", "one"), ("-", "two"), ("+", "three"))


def test_replace_reason_reads_as_a_sentence():
    item = resource_diff(
        {
            "address": "aws_instance.web",
            "type": "aws_instance",
            "name": "web",
            "action_reason": "replace_because_cannot_update",
            "change": {"actions": ["delete", "create"], "before": {"ami": "a"}, "after": {"ami": "b"}},
        }
    )
    assert item.reason_text == "an attribute that cannot be updated in place changed"
    unknown = resource_diff(
        {"address": "x.y", "action_reason": "some_new_reason", "change": {"actions": ["update"]}}
    )
    assert unknown.reason_text == "some new reason"
