"""`fraudlab check-csv` and `produce-csv` as a user meets them: problems by file and line, and
every mistake one sentence with a non-zero exit, found before anything is sent."""

from __future__ import annotations

import shutil
from pathlib import Path

from cli_runs import fraudlab_offline as fraudlab
from cli_runs import one_sentence

CASES = Path(__file__).parent / "data" / "cases" / "csv"


def test_check_csv_lists_the_problems_by_file_and_line() -> None:
    result = fraudlab("check-csv", str(CASES / "quoted-metadata"))
    assert result.returncode == 1
    assert result.stdout.splitlines()[:2] == [
        "transactions.csv:4: product_metadata: item 1: quantity -2 is negative",
        "transactions.csv:5: shipment_location_lat: '-6,2392' is not a number (write it with a "
        "decimal point: 6.2, not 6,2)",
    ]
    assert "2 rows cannot be read" in one_sentence(result)


def test_check_csv_of_a_whole_folder_exits_0_and_counts_the_rows() -> None:
    result = fraudlab("check-csv", str(CASES / "bom-session"))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("82 rows can be read (customer.csv 6,")


def test_produce_csv_check_sends_nothing() -> None:
    result = fraudlab("produce-csv", str(CASES / "comma-in-name"), "--check")
    assert result.returncode == 1
    assert result.stdout.startswith("product.csv:5: 10 fields where the header has 9")
    assert "1 row cannot be read" in one_sentence(result)


def test_a_header_without_a_column_is_refused_before_the_broker_is_asked(tmp_path: Path) -> None:
    folder = tmp_path / "dataset"
    shutil.copytree(CASES / "assignment-layout", folder)
    path = folder / "customer_session.csv"
    path.write_text(path.read_text().replace("customer_id", "customer", 1))
    result = fraudlab("produce-csv", str(folder), "--fast")
    assert result.returncode == 2
    assert one_sentence(result) == (
        "fraudlab: customer_session.csv: the header lacks the column 'customer_id' "
        "(it has session_id, customer)."
    )


def test_user_mistakes_in_options_are_one_sentence() -> None:
    folder = str(CASES / "assignment-layout")
    cases = [
        (["--topic", "browsing"], "say STREAM=NAME"),
        (["--topic", "browsing=a b"], "a topic name is 1-249 letters"),
        (["--time-zone", "Mars/Olympus"], "'Mars/Olympus' is not a time zone"),
        (["--encoding", "no-such-codec"], "'no-such-codec' is not an encoding"),
    ]
    for options, expected in cases:
        result = fraudlab("produce-csv", folder, "--fast", *options)
        assert result.returncode != 0, options
        assert expected in one_sentence(result), options
    result = fraudlab("check-csv", str(CASES))
    assert "has no browsing_behaviour.csv or new_browsing_behaviour.csv" in one_sentence(result)


def test_run_csv_mistakes_are_one_sentence_before_any_part_starts(tmp_path: Path) -> None:
    folder = str(CASES / "assignment-layout")
    cases = [
        ([], "say what to run: a SCENARIO, or --csv DIR"),
        (
            ["baseline", "--csv", folder, "--fast"],
            f"run 'baseline' or the CSV files of --csv {folder}, not both",
        ),
        (["baseline", "--speed", "1e-300"], "1e-300 is not in the range x>=0.01"),
        (["--csv", folder, "--speed", "2"], "a CSV run is paced by its batch interval"),
        (["--csv", folder, "--fast", "--minutes", "3"], "--minutes is for scenarios"),
        (["baseline", "--fast", "--first-ts", "5"], "--first-ts is for --csv runs"),
        (["--csv", str(tmp_path), "--fast"], "has no browsing_behaviour.csv"),
    ]
    for args, expected in cases:
        result = fraudlab("run", *args)
        assert result.returncode == 2, (args, result.stderr)
        assert expected in one_sentence(result), args


def test_training_on_a_folder_that_cannot_train_is_refused_before_spark(tmp_path: Path) -> None:
    """Spark took seconds to start before the folder was looked at."""
    result = fraudlab("train", "--name", "x", "--data", str(tmp_path / "missing"))
    assert result.returncode == 2
    assert (
        one_sentence(result)
        == f"fraudlab: {tmp_path / 'missing'} is not a folder of assignment CSV files."
    )
    folder = tmp_path / "unlabelled"
    shutil.copytree(CASES / "assignment-layout", folder)
    (folder / "fraud_transaction.csv").unlink()
    result = fraudlab("train", "--name", "x", "--data", str(folder))
    assert result.returncode == 2
    assert "has no fraud_transaction.csv: training needs the labels" in one_sentence(result)
    assert "starting Spark" not in result.stdout + result.stderr
