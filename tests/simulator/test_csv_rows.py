"""Reading real CSV files: encodings, line ends, quoting, time formats, and rows set aside."""

from __future__ import annotations

import io
import shutil
from contextlib import ExitStack
from pathlib import Path

import pytest

from fraudlab.errors import UsageError
from fraudlab.field_values import event_time
from simulator.csv_dataset import FraudLabels, check_dataset_rows, locate_dataset
from simulator.csv_rows import (
    BROWSING,
    PRODUCTS,
    TRANSACTIONS,
    FileSpec,
    Problem,
    open_text,
    read_rows,
)

CASES = Path(__file__).parent / "data" / "cases" / "csv"
BROWSING_HEADER = "session_id,event_type,event_time,traffic_source,device_type"
TX_HEADER = (
    "created_at,customer_id,transaction_id,session_id,product_metadata,payment_method,"
    "payment_status,promo_amount,promo_code,shipment_fee,shipment_location_lat,"
    "shipment_location_long,total_amount,clear_payment"
)


def read(
    text: str, spec: FileSpec = BROWSING, name: str = "browsing_behaviour.csv"
) -> tuple[list[dict[str, str]], list[Problem]]:
    problems: list[Problem] = []
    rows = list(read_rows(io.StringIO(text, newline=""), name, spec, problems.append))
    return rows, problems


def transaction(**changes: str) -> str:
    values = {
        "created_at": "2024-05-09 10:00:08.683",
        "customer_id": "10000",
        "transaction_id": "t1",
        "session_id": "s1",
        "product_metadata": "\"[{'product_id': 28999, 'quantity': 1, 'item_price': 1000}]\"",
        "payment_method": "OVO",
        "payment_status": "Success",
        "promo_amount": "0",
        "promo_code": "",
        "shipment_fee": "10000",
        "shipment_location_lat": "-6.2392",
        "shipment_location_long": "106.8752",
        "total_amount": "11000",
        "clear_payment": "1",
    }
    values.update(changes)
    return ",".join(values.values())


def test_crlf_and_quoted_fields_with_commas_and_line_breaks() -> None:
    text = (
        f"{BROWSING_HEADER}\r\n"
        's1,HP,2024-05-09 10:00:01,"MOBILE, app","Android\r\n14"\r\n'
        "s2,VC,2024-05-09 10:00:02,WEB,Desktop\r\n"
    )
    rows, problems = read(text)
    assert problems == []
    assert [r["traffic_source"] for r in rows] == ["MOBILE, app", "WEB"]
    assert rows[0]["device_type"] == "Android\r\n14"


def test_a_short_and_a_long_row_are_set_aside_with_their_lines() -> None:
    text = (
        f"{BROWSING_HEADER}\n"
        "s1,HP,2024-05-09 10:00:01,MOBILE,Android\n"
        "s2,HP,2024-05-09 10:00:02,MOBILE\n"
        "\n"
        "s3,HP,2024-05-09 10:00:03,MOBILE,Android,extra\n"
        "s4,HP,2024-05-09 10:00:04,MOBILE,Android\n"
    )
    rows, problems = read(text)
    assert [r["session_id"] for r in rows] == ["s1", "s4"]
    assert [(p.line, p.field) for p in problems] == [(3, ""), (5, "")]
    assert problems[0].reason == "4 fields where the header has 5"
    assert problems[1].reason.startswith("6 fields where the header has 5")
    assert problems[1].raw == "s3,HP,2024-05-09 10:00:03,MOBILE,Android,extra"


def test_empty_required_values_bad_times_and_unknown_event_types() -> None:
    text = (
        f"{BROWSING_HEADER}\n"
        ",HP,2024-05-09 10:00:01,MOBILE,Android\n"
        "s2,HP,yesterday,MOBILE,Android\n"
        "s3,XX,2024-05-09 10:00:03,MOBILE,Android\n"
        "s4,HP,2024-05-09 10:00:04,,\n"  # only the required values must be there
    )
    rows, problems = read(text)
    assert [r["session_id"] for r in rows] == ["s4"]
    assert [(p.line, p.field) for p in problems] == [
        (2, "session_id"),
        (3, "event_time"),
        (4, "event_type"),
    ]
    assert problems[0].reason == "is empty"
    assert "'yesterday' is not a date and time" in problems[1].reason
    assert str(problems[2]).startswith("browsing_behaviour.csv:4: event_type: 'XX' is not one of")


@pytest.mark.parametrize(
    "text",
    [
        "2024-05-09 10:00:01",
        "2024-05-09 10:00:01.000",
        "2024-05-09 10:00:01.000000000",
        "2024-05-09T10:00:01+07:00",
        "2024-05-09T03:00:01Z",
        "2024-05-09 03:00:01 UTC",
        "2024-05-09T01:00:01-02:00",
    ],
)
def test_every_common_time_form_reads_to_the_same_instant(text: str) -> None:
    # naive times are local to the dataset's zone: Jakarta, UTC+7
    assert event_time(text, "Asia/Jakarta") == 1715223601.0


def test_the_dataset_time_zone_decides_naive_times() -> None:
    assert event_time("2024-05-09 10:00:01", "UTC") - event_time("2024-05-09 10:00:01") == 7 * 3600


def test_a_second_encoding_is_read_when_given_and_refused_row_by_row_when_not(
    tmp_path: Path,
) -> None:
    path = tmp_path / "product.csv"
    header = "id,gender,baseColour,season,year,usage,productDisplayName,category_id"
    lines = ["1,Men,Navy,Fall,2011,Casual,Café Shirt,1", "2,Men,Red,Fall,2011,Casual,Cap,1"]
    path.write_bytes("\n".join([header, *lines, ""]).encode("cp1252"))
    problems: list[Problem] = []
    with open_text(path, "cp1252") as handle:
        rows = list(read_rows(handle, path.name, PRODUCTS, problems.append))
    assert [r["productDisplayName"] for r in rows] == ["Café Shirt", "Cap"] and not problems
    with open_text(path) as handle:
        rows = list(read_rows(handle, path.name, PRODUCTS, problems.append))
    assert [r["id"] for r in rows] == ["2"]
    (problem,) = problems
    assert (problem.line, problem.field) == (2, "")
    assert "byte 0xe9" in problem.reason and "--encoding" in problem.reason
    assert problem.raw == "1,Men,Navy,Fall,2011,Casual,Caf\\xe9 Shirt,1"


def test_a_byte_order_mark_is_not_part_of_the_first_column(tmp_path: Path) -> None:
    path = tmp_path / "browsing_behaviour.csv"
    path.write_bytes(
        b"\xef\xbb\xbf"
        + f"{BROWSING_HEADER}\r\ns1,HP,2024-05-09 10:00:01,MOBILE,Android\r\n".encode()
    )
    with open_text(path) as handle:
        (row,) = read_rows(handle, path.name, BROWSING, lambda p: pytest.fail(str(p)))
    assert row["session_id"] == "s1"


def test_numbers_coordinates_and_product_metadata_are_checked() -> None:
    text = "\n".join(
        [
            TX_HEADER,
            transaction(),
            transaction(transaction_id="t2", shipment_location_lat='"-6,2392"'),
            transaction(transaction_id="t3", total_amount="-5"),
            transaction(transaction_id="t4", shipment_location_long="200"),
            transaction(transaction_id="t5", product_metadata="\"[{'product_id': 1}]\""),
            transaction(transaction_id="t6", created_at=""),
        ]
    )
    rows, problems = read(text, TRANSACTIONS, "transactions.csv")
    assert [r["transaction_id"] for r in rows] == ["t1"]
    assert rows[0]["promo_code"] == ""  # an optional value may be empty
    assert [(p.line, p.field) for p in problems] == [
        (3, "shipment_location_lat"),
        (4, "total_amount"),
        (5, "shipment_location_long"),
        (6, "product_metadata"),
        (7, "created_at"),
    ]
    assert "decimal point" in problems[0].reason
    assert problems[1].reason == "-5 is negative"


def test_a_header_without_a_required_column_is_one_sentence() -> None:
    with pytest.raises(UsageError, match=r"lacks the column 'event_time' \(it has session_id"):
        read("session_id,event_type,traffic_source,device_type\ns1,HP,MOBILE,Android\n")
    with pytest.raises(UsageError, match="is empty"):
        read("")


def test_both_file_names_of_a_stream_are_refused(tmp_path: Path) -> None:
    for name in ("browsing_behaviour.csv", "new_browsing_behaviour.csv"):
        (tmp_path / name).write_text(f"{BROWSING_HEADER}\n")
    (tmp_path / "transactions.csv").write_text(f"{TX_HEADER}\n")
    with pytest.raises(UsageError, match=r"holds both browsing_behaviour\.csv and new_"):
        locate_dataset(tmp_path)


def test_a_missing_streaming_file_and_an_unknown_zone_are_one_sentence(tmp_path: Path) -> None:
    (tmp_path / "browsing_behaviour.csv").write_text(f"{BROWSING_HEADER}\n")
    with pytest.raises(UsageError, match=r"no transactions\.csv or new_transactions\.csv"):
        locate_dataset(tmp_path)
    (tmp_path / "transactions.csv").write_text(f"{TX_HEADER}\n")
    with pytest.raises(UsageError, match="'Mars/Olympus' is not a time zone"):
        locate_dataset(tmp_path, zone="Mars/Olympus")


# ---- the handed cases (tests/simulator/data/cases/README.md), as far as reading goes ----------

ASSIGNMENT_COUNTS = {
    "customer.csv": 6,
    "category.csv": 2,
    "product.csv": 3,
    "customer_session.csv": 6,
    "browsing_behaviour.csv": 60,
    "transactions.csv": 4,
    "fraud_transaction.csv": 1,
}


@pytest.mark.parametrize(
    "case", ["assignment-layout", "bom-session", "bom-browsing", "quoted-metadata-control"]
)
def test_whole_cases_read_every_row(case: str) -> None:
    report = check_dataset_rows(locate_dataset(CASES / case))
    assert report.problems == []
    assert dict(report.rows) == ASSIGNMENT_COUNTS


def test_the_assignment_s_own_file_names_are_accepted() -> None:
    dataset = locate_dataset(CASES / "assignment-layout-newnames")
    assert dataset.files["browsing"].name == "new_browsing_behaviour.csv"
    assert dataset.files["transactions"].name == "new_transactions.csv"
    report = check_dataset_rows(dataset)
    renamed = {"browsing_behaviour.csv": "new_browsing_behaviour.csv"}
    renamed["transactions.csv"] = "new_transactions.csv"
    assert report.problems == []
    assert dict(report.rows) == {renamed.get(k, k): n for k, n in ASSIGNMENT_COUNTS.items()}


def test_comma_in_name_sets_aside_one_product_row() -> None:
    report = check_dataset_rows(locate_dataset(CASES / "comma-in-name"))
    assert dict(report.rows) == ASSIGNMENT_COUNTS
    (problem,) = report.problems
    assert (problem.file, problem.line, problem.field) == ("product.csv", 5, "")
    assert problem.reason.startswith("10 fields where the header has 9")
    assert problem.raw.startswith("6044,Men,Black,Winter,2015,Casual,Boss Men Perfume, After")


def test_quoted_metadata_refuses_the_negative_quantity_and_the_comma_coordinates() -> None:
    report = check_dataset_rows(locate_dataset(CASES / "quoted-metadata"))
    assert report.rows["transactions.csv"] == 2
    assert [str(p) for p in report.problems] == [
        "transactions.csv:4: product_metadata: item 1: quantity -2 is negative",
        "transactions.csv:5: shipment_location_lat: '-6,2392' is not a number (write it with a "
        "decimal point: 6.2, not 6,2)",
    ]


def test_an_open_quote_sets_aside_its_line_and_the_rows_after_it_are_read() -> None:
    text = (
        f"{BROWSING_HEADER}\n"
        "s1,HP,2024-05-09 10:00:01,MOBILE,Android\n"
        's2,"VC,2024-05-09 10:00:02,MOBILE,Android\n'
        "s3,VC,2024-05-09 10:00:03,WEB,Desktop\n"
        's4,HP,2024-05-09 10:00:04,"WEB,Desktop\n'
        "s5,HP,2024-05-09 10:00:05,WEB,Desktop\n"
        's6,HP,2024-05-09 10:00:06,WEB,"Desktop'
    )
    rows, problems = read(text)
    assert [r["session_id"] for r in rows] == ["s1", "s3", "s5"]
    assert [(p.line, p.reason) for p in problems] == [
        (n, "a quote opened on this line is never closed before the next row") for n in (3, 5, 7)
    ]
    assert problems[0].raw == 's2,"VC,2024-05-09 10:00:02,MOBILE,Android'


def test_a_case_s_open_quote_loses_no_row(tmp_path: Path) -> None:
    """The whole of browsing_behaviour.csv after an open quote was one value, and 58 rows were
    counted nowhere: now the line is set aside and the 59 others are read."""
    folder = tmp_path / "open-quote"
    shutil.copytree(CASES / "assignment-layout", folder)
    path = folder / "browsing_behaviour.csv"
    lines = path.read_text().splitlines(keepends=True)
    lines[2] = lines[2].replace(",", ',"', 1)
    path.write_text("".join(lines))
    report = check_dataset_rows(locate_dataset(folder))
    assert report.rows["browsing_behaviour.csv"] == ASSIGNMENT_COUNTS["browsing_behaviour.csv"] - 1
    assert [(p.file, p.line) for p in report.problems] == [("browsing_behaviour.csv", 3)]


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be", "utf-32"])
def test_a_byte_order_mark_names_the_file_s_encoding(tmp_path: Path, encoding: str) -> None:
    path = tmp_path / "browsing_behaviour.csv"
    text = f"{BROWSING_HEADER}\r\ns1,HP,2024-05-09 10:00:01,MOBILE,Android\r\n"
    mark = "\ufeff" if encoding != "utf-16" and encoding != "utf-32" else ""
    path.write_bytes((mark + text).encode(encoding))
    with open_text(path) as handle:
        (row,) = read_rows(handle, path.name, BROWSING, lambda p: pytest.fail(str(p)))
    assert row["session_id"] == "s1"


def test_utf16_without_a_mark_or_read_in_the_wrong_encoding_is_one_sentence(
    tmp_path: Path,
) -> None:
    path = tmp_path / "browsing_behaviour.csv"
    path.write_bytes(f"{BROWSING_HEADER}\n".encode("utf-16-le"))
    with open_text(path) as handle, pytest.raises(UsageError, match=r"NUL bytes.*--encoding"):
        list(read_rows(handle, path.name, BROWSING, lambda p: None))
    path.write_bytes(f"{BROWSING_HEADER}\n".encode())
    with (
        open_text(path, "utf-16") as handle,
        pytest.raises(UsageError, match=r"browsing_behaviour\.csv cannot be read in the encoding"),
    ):
        list(read_rows(handle, path.name, BROWSING, lambda p: None))


def test_fraud_labels_are_read_as_spreadsheets_write_them_and_every_other_is_counted(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "labels"
    shutil.copytree(CASES / "assignment-layout", folder)
    ids = [
        line.split(",")[2] for line in (folder / "transactions.csv").read_text().splitlines()[1:]
    ]
    (folder / "fraud_transaction.csv").write_text(
        "transaction_id,is_fraud\n"
        f"{ids[0]},1.0\n{ids[1]},FALSE\n{ids[2]},\nno-such-transaction,1\n{ids[3]},maybe\n"
    )
    dataset = locate_dataset(folder)
    report = check_dataset_rows(dataset)
    assert [str(p) for p in report.problems] == [
        "fraud_transaction.csv:6: is_fraud: 'maybe' is not a fraud label (1 or 0, true or false, "
        "yes or no)",
        "fraud_transaction.csv:5: transaction_id: 'no-such-transaction' is no transaction of the "
        "dataset's transactions file",
    ]
    assert report.rows["fraud_transaction.csv"] == 3
    with ExitStack() as stack:
        labels = FraudLabels.read(dataset, stack, lambda p: None)
    assert labels is not None
    assert {k: v[0] for k, v in labels.labels.items() if k in ids} == {
        ids[0]: True,
        ids[1]: False,
        ids[2]: True,  # left empty: the assignment's file lists the frauds
    }
