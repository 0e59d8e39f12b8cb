"""The one label table of the dashboards: Simplified Chinese for each English text,
and display names of the SQL columns in both languages (pure).

dashboards/build.py writes its texts in English and asks `translate` for the
language it builds; the SQL is the same in every language (columns keep their
names, Grafana shows them by the `column_label` display name), so a query tested
once is tested for both. A text without an entry here fails the build.
"""

from __future__ import annotations

import re

from foodtrace.reference import CITY_FACTS

LANGUAGES = ("zh-CN", "en")
DEFAULT_LANGUAGE = "zh-CN"
_CJK = re.compile(r"[\u4e00-\u9fff]")


class MissingLabel(KeyError):
    """A dashboard text has no Chinese in the label table."""


def city_name(code: str, language: str) -> str:
    """广州 / Guangzhou; 其他 / other for a place outside the nine cities."""
    facts = CITY_FACTS.get(code)
    if facts is None:
        return "其他" if language == "zh-CN" else "other"
    return facts.name_zh.removesuffix("市") if language == "zh-CN" else facts.name_en


def translate(text: str, language: str) -> str:
    """`text` in `language`; texts that already carry Chinese stay as they are."""
    if language == "en" or not text or _CJK.search(text):
        return text
    try:
        return TEXT[text]
    except KeyError:
        raise MissingLabel(
            f"no Chinese for dashboard text {text!r} (foodtrace/grafana/labels.py)"
        ) from None


def column_label(column: str, language: str) -> str | None:
    """How Grafana shows a column, or None for a column without an entry."""
    pair = COLUMNS.get(column)
    if pair is None:
        return None
    return pair[0] if language == "zh-CN" else pair[1]


# Column name -> (Chinese, English).
COLUMNS: dict[str, tuple[str, str]] = {
    "critical": ("严重", "critical"),
    "warning": ("警告", "warning"),
    "city": ("城市", "city"),
    "severity": ("严重程度", "severity"),
    "open_alerts": ("未关闭告警", "open alerts"),
    "lots": ("批次", "lots"),
    "first_raised": ("首次告警", "first raised"),
    "last_raised": ("最近告警", "last raised"),
    "location_id": ("地点编号", "location id"),
    "location_name": ("地点", "location"),
    "kind": ("类型", "kind"),
    "alerts": ("告警数", "alerts"),
    "worst_severity": ("最高严重程度", "worst severity"),
    "raised_at": ("告警时间", "raised at"),
    "status": ("状态", "status"),
    "lot_code": ("批次号", "lot code"),
    "product_code": ("产品编码", "product code"),
    "analyte": ("检测项目", "analyte"),
    "value": ("检测值", "value"),
    "unit": ("单位", "unit"),
    "limit_value": ("限量", "limit"),
    "limit_unit": ("限量单位", "limit unit"),
    "test_kind": ("检测类型", "test kind"),
    "lab_id": ("实验室", "lab"),
    "affected_lots": ("涉及批次数", "affected lots"),
    "affected_locations": ("涉及地点数", "affected locations"),
    "affected_cities": ("涉及城市", "affected cities"),
    "affected_lot_codes": ("涉及批次号", "affected lot codes"),
    "alert_id": ("告警编号", "alert id"),
    "created_at": ("创建时间", "created at"),
    "msg_type": ("消息类型", "message type"),
    "version": ("版本", "version"),
    "sent_at": ("发送时间", "sent at"),
    "attempts": ("尝试次数", "attempts"),
    "last_error": ("最近错误", "last error"),
    "cap_identifier": ("CAP 标识", "CAP identifier"),
    "cap_xml": ("CAP 消息", "CAP XML"),
    "depth": ("层级", "depth"),
    "reached_from": ("来自", "reached from"),
    "made_from": ("原料批次", "made from"),
    "quantity": ("数量", "quantity"),
    "source_lot": ("源头批次", "source lot"),
    "depth_capped": ("达到层级上限", "depth capped"),
    "event_time": ("事件时间", "event time"),
    "role": ("环节", "role"),
    "counterparty_location_id": ("对方地点", "counterparty location"),
    "event_type": ("事件类型", "event type"),
    "roles": ("环节", "roles"),
    "tested_at": ("检测时间", "tested at"),
    "sample_id": ("样品编号", "sample id"),
    "result": ("结果", "result"),
    "verdict": ("判定", "verdict"),
    "positive": ("阳性", "positive"),
    "sampled_location_id": ("抽样地点", "sampled at"),
    "sender_id": ("发送方", "sender"),
    "rule": ("规则", "rule"),
    "cfr_section": ("CFR 条款", "CFR section"),
    "resolved_value": ("补全值", "resolved value"),
    "message": ("说明", "message"),
    "received": ("接收", "received"),
    "stored": ("入库", "stored"),
    "duplicates": ("重复", "duplicates"),
    "quarantined": ("隔离", "quarantined"),
    "worker_id": ("接入进程", "worker"),
    "last_flush": ("最近写入", "last flush"),
    "lag_max_s": ("最大延迟 (秒)", "max lag (s)"),
    "last_heartbeat": ("最近心跳", "last heartbeat"),
    "silent_s": ("静默 (秒)", "silent (s)"),
    "started_at": ("开始时间", "started at"),
    "host": ("主机", "host"),
    "pid": ("进程号", "pid"),
    "session_ended_at": ("会话结束", "session ended"),
    "silent_worker": ("静默进程", "silent worker"),
    "taken_over_by": ("接管进程", "taken over by"),
    "outcome": ("结果", "outcome"),
    "messages": ("消息数", "messages"),
    "session_present": ("会话存在", "session present"),
    "silent_for_s": ("静默时长 (秒)", "silent for (s)"),
    "duration": ("耗时", "duration"),
    "detail": ("详情", "detail"),
    "lag_avg": ("平均延迟", "average lag"),
    "lag_max": ("最大延迟", "max lag"),
    "edge": ("接入边缘", "edge"),
    "validation": ("数据校验", "validation"),
    "sender": ("发送方", "sender"),
    "stage": ("阶段", "stage"),
    "reason": ("原因", "reason"),
    "last_seen": ("最近出现", "last seen"),
    "example": ("示例", "example"),
    "queued": ("排队", "queued"),
    "oldest": ("最早", "oldest"),
    "suite_name": ("校验套件", "suite"),
    "rows_checked": ("检查行数", "rows checked"),
    "rows_passed": ("通过", "rows passed"),
    "rows_failed": ("未通过", "rows failed"),
    "findings": ("发现", "findings"),
    "success": ("成功", "success"),
    "run_id": ("运行编号", "run id"),
    "expectation": ("期望", "expectation"),
    "column_name": ("字段", "column"),
    "on_failure": ("失败处理", "on failure"),
    "failed_runs": ("失败次数", "failed runs"),
    "unexpected_rows": ("异常行数", "unexpected rows"),
    "last_failed": ("最近失败", "last failed"),
    "positives": ("阳性数", "positives"),
    "tests": ("检测数", "tests"),
    "positive_pct": ("阳性率 %", "positive %"),
    "confirmatory": ("确证检测", "confirmatory"),
    "completeness": ("完整率", "completeness"),
    # lab and station silence
    "last_result": ("最近结果", "last result"),
    "silent_h": ("静默 (小时)", "silent (h)"),
    "results": ("结果数", "results"),
    "station_kind": ("机构类型", "lab or station"),
    # pipeline runs
    "step": ("步骤", "step"),
    "mode": ("运行方式", "mode"),
    "state": ("状态", "state"),
    "dag_id": ("DAG", "DAG"),
    "dag_run_id": ("DAG 运行", "DAG run"),
    "task_id": ("任务", "task"),
    "try_number": ("重试次数", "try"),
    "duration_s": ("耗时 (秒)", "duration (s)"),
    "error": ("错误", "error"),
    "runs": ("运行次数", "runs"),
    "failed": ("失败", "failed"),
    "last_state": ("最近状态", "last state"),
    "avg_duration_s": ("平均耗时 (秒)", "average duration (s)"),
    "max_duration_s": ("最长耗时 (秒)", "longest (s)"),
    "last_run": ("最近运行", "last run"),
    # withdrawals
    "city_name": ("城市", "city"),
    "notices": ("通知数", "notices"),
    "answered": ("已回复", "answered"),
    "overdue": ("逾期", "overdue"),
    "open": ("未完成", "open"),
    "verified": ("已核查", "verified"),
    "held": ("持有量", "held"),
    "done": ("已召回或核销", "withdrawn or accounted"),
    "share": ("召回进度", "share withdrawn"),
    "actor_id": ("企业编号", "business id"),
    "business_name": ("企业名称", "business name"),
    "phone": ("电话", "phone"),
    "address": ("地址", "address"),
    "deadline": ("截止时间", "deadline"),
    "overdue_for": ("逾期时长", "overdue for"),
    "action": ("措施", "action"),
    "notice_id": ("通知编号", "notice id"),
    "out_there": ("尚在市场数量", "still out there"),
}

# English text -> Simplified Chinese: dashboard and panel titles, descriptions,
# variable labels.
TEXT: dict[str, str] = {
    "City": "城市",
    "All": "全部",
    "Lot code": "批次号",
    "traceability lot code": "追溯批次号",
    # emergency
    "Emergency coordination": "应急协调",
    "Open alerts, where the affected food is, and the CAP messages sent to each city.":
        "未关闭的告警、受影响食品所在位置以及发给各城市的 CAP 消息。",
    "Open alerts": "未关闭告警",
    "Open alerts by severity and city": "按严重程度和城市的未关闭告警",
    "An alert counts once in every city it reaches (spec section 4: affected cities).":
        "一条告警在其涉及的每个城市各计一次（规范第 4 节：受影响城市）。",
    "Affected locations (open alerts)": "受影响地点（未关闭告警）",
    "Every location that holds, held, sold or received an affected lot.":
        "持有、曾持有、销售或接收过受影响批次的所有地点。",
    "Alerts raised": "新增告警",
    "Alerts: affected lots and locations": "告警：受影响批次与地点",
    "Open alerts, and every alert raised in the time range.":
        "未关闭的告警，以及时间范围内产生的所有告警。",
    "Latest CAP message per alert and city": "每条告警、每个城市的最新 CAP 消息",
    "What each city's emergency office last received (OASIS CAP 1.2); sent_at is "
    "empty until the broker acknowledged it.":
        "各城市应急办最近收到的消息（OASIS CAP 1.2）；消息代理确认前发送时间为空。",
    # trace
    "Trace explorer": "追溯查询",
    "Upstream, downstream and where a lot went, from the trace functions "
    "(core.trace_upstream / trace_downstream / trace_locations).":
        "批次的上游、下游及流向，来自追溯函数（core.trace_upstream / trace_downstream / "
        "trace_locations）。",
    "Upstream: what ${lot} was made from": "上游：${lot} 的原料",
    "Downstream: what was made from ${lot}": "下游：由 ${lot} 制成的产品",
    "Where ${lot} and its products went": "${lot} 及其产品的流向",
    "Locations on the trace": "追溯链上的地点",
    "Upstream sources and everywhere the lot and its products were.":
        "上游来源，以及该批次及其产品到过的所有地点。",
    "Lab results on ${lot}": "${lot} 的检测结果",
    "Alerts that reach ${lot}": "涉及 ${lot} 的告警",
    "Alerts on this lot, and alerts on other lots whose affected lots include it.":
        "本批次的告警，以及受影响批次包含本批次的其他告警。",
    "Findings on the trace of ${lot}": "${lot} 追溯链上的发现",
    "What validation flagged on the events of this trace (KDE gaps with their "
    "21 CFR sections, references not known yet, time and quantity doubts). These "
    "events are traced all the same; resolved findings were answered by the graph "
    "(derived) or by data that arrived later.":
        "校验在本追溯链事件上标记的问题（关键数据要素缺失及其 21 CFR 条款、尚未知晓的引用、"
        "时间和数量疑点）。这些事件照常追溯；已解决的发现由批次图谱推导或由后到的数据补全。",
    "Lot graph of ${lot}": "${lot} 的批次关系图",
    "Upstream (blue), the lot (red) and downstream (orange) lots, with the "
    "transformations between them: core.trace_graph_nodes / trace_graph_edges, "
    "which walk the graph with the trace functions.":
        "上游批次（蓝）、本批次（红）与下游批次（橙）及其间的加工关系："
        "core.trace_graph_nodes / trace_graph_edges（基于追溯函数遍历图谱）。",
    # ingest
    "Ingest health": "数据接入与流水线",
    "What the MQTT ingest workers received, stored, ignored as duplicates and "
    "quarantined (ops.ingest_stats), their heartbeats and session takeovers "
    "(ops.ingest_workers, ops.ingest_takeovers), why messages were quarantined, "
    "and validation runs.":
        "MQTT 接入进程接收、入库、忽略的重复及隔离的消息（ops.ingest_stats），进程心跳与会话接管"
        "（ops.ingest_workers、ops.ingest_takeovers），消息被隔离的原因，校验运行以及流水线步骤运行。",
    "Messages per second": "每秒消息数",
    "Payload elements per second, all workers together.": "所有接入进程合计每秒处理的消息元素。",
    "Workers": "接入进程",
    "Worker heartbeats": "接入进程心跳",
    "Every ingest worker with its last heartbeat (independent of traffic). "
    "'silent' with a session still open: the broker keeps queueing a share of "
    "the traffic in it until a surviving worker takes it over "
    "(FOODTRACE_INGEST_TAKEOVER_S after its last heartbeat).":
        "每个接入进程及其最近心跳（与流量无关）。“silent”且会话仍打开：消息代理会继续向其排队部分"
        "流量，直到存活进程接管（最近心跳后 FOODTRACE_INGEST_TAKEOVER_S 秒）。",
    "Session takeovers": "会话接管",
    "A surviving worker took over a silent worker's MQTT session: landed what "
    "it held (messages) and ended it. 'interrupted': the session was taken "
    "back before it was drained; tried again after the limit.":
        "存活进程接管了静默进程的 MQTT 会话：写入其积压消息并结束会话。“interrupted”："
        "会话在清空前被收回，超时后重试。",
    "Ingest lag (publish to commit)": "接入延迟（发布到提交）",
    "Average: total lag / messages over every batch of the interval (each batch "
    "weighed by its messages), not the average of batch averages.":
        "平均值 = 区间内所有批次的总延迟 / 消息数（按各批次消息数加权），而非批次平均值的平均。",
    "Quarantined by stage": "按阶段的隔离消息",
    "Quarantine reasons by sender": "按发送方的隔离原因",
    "Waiting for validation": "等待校验",
    "Landed messages validation has not promoted or quarantined yet (nothing "
    "waits for a reference: such rows are promoted with a finding).":
        "已接入但尚未被校验提升或隔离的消息（不会因等待引用而停留：此类数据带着发现被提升）。",
    "Validation runs": "校验运行",
    "Failed expectations": "未通过的校验项",
    "Which checks rows failed, with the FSMA 204 section they enforce.":
        "数据未通过的检查项及其对应的 FSMA 204 条款。",
    "Pipeline step runs": "流水线步骤运行",
    "Every run of a pipeline step (validate, link, alert, withdrawals) as the step "
    "recorded it in ops.pipeline_runs: under Airflow with its DAG, run and task, "
    "or direct (foodtrace pipeline run --direct).":
        "流水线各步骤（校验、关联、告警、召回）每次运行的记录（ops.pipeline_runs）："
        "Airflow 下含 DAG、运行和任务，或直接运行（foodtrace pipeline run --direct）。",
    "Pipeline steps by DAG": "按 DAG 的流水线步骤",
    "Runs, failures, last state and durations per DAG and step in the time range.":
        "时间范围内每个 DAG 和步骤的运行次数、失败次数、最近状态与耗时。",
    "Pipeline step durations": "流水线步骤耗时",
    # lab results
    "Lab results": "检测结果",
    "Positive lab and rapid-test results by analyte and by city. A result is "
    "positive when the alerts engine judged it a violation (confirmatory, above "
    "the limit) or a suspicion (rapid test positive).":
        "按检测项目和城市的实验室及快检阳性结果。告警引擎判定为违规（确证检测超限）或可疑"
        "（快检阳性）的结果计为阳性。",
    "Positives by analyte": "按检测项目的阳性数",
    "Positives by city": "按城市的阳性数",
    "Tests and positives by analyte and city": "按检测项目和城市的检测数与阳性数",
    "Positive results": "阳性结果",
    "Silent after (hours)": "静默阈值（小时）",
    "a lab or station with no result for this many hours is listed as silent":
        "超过该小时数没有结果的实验室或快检站列为静默",
    "Labs and stations that stopped reporting": "停止报送的实验室和快检站",
    "Every lab and rapid-test station that has reported before and has sent no result "
    "for more than the chosen number of hours (variable silent_hours), longest "
    "silent first. Not limited to the time range: a long silence must show.":
        "曾经报送、但超过所选小时数（变量 silent_hours）没有结果的实验室和快检站，静默最久的在前。"
        "不受时间范围限制：长时间静默必须显示。",
    # withdrawals
    "Withdrawal progress": "召回进度",
    "Withdrawal notices of open alerts per city: the share of the held quantity "
    "withdrawn or accounted for, the businesses that are overdue with their "
    "contact details, and how much is still out there. Figures as `foodtrace "
    "withdrawals` gives them (reporting.withdrawal_progress_by_city).":
        "未关闭告警的召回通知（按城市）：持有量中已召回或核销的比例、逾期企业及联系方式、"
        "尚在市场的数量。数据与 `foodtrace withdrawals` 一致（reporting.withdrawal_progress_by_city）。",
    "Progress by city": "各城市召回进度",
    "Share of the held quantity withdrawn or accounted for, per city and alert "
    "(empty when a city's lots are in several units: see the table).":
        "每个城市、每条告警的持有量中已召回或核销的比例（城市批次单位不一时为空：见下表）。",
    "Notices per alert and city": "各告警、各城市的通知",
    "Overdue businesses": "逾期企业",
    "Businesses whose notice passed its deadline without a withdrawal, with the "
    "contact details of their master data (business name, phone, address).":
        "通知已过截止时间仍未召回的企业，以及主数据中的联系方式（企业名称、电话、地址）。",
    "Quantity still out there": "尚在市场的数量",
    "Held quantity of the live notices minus what was withdrawn or accounted for, "
    "per unit, over time.":
        "有效通知的持有量减去已召回或核销的数量，按单位随时间变化。",
    # KDE completeness (titles there already carry both languages)
    "How completely senders report the FSMA 204 Key Data Elements: an event is "
    "complete when validation found no KDE missing on it. A gap the lot graph "
    "filled in later (derived) still counts against the sender. Days are "
    "Asia/Shanghai days.":
        "各发送方报送 FSMA 204 关键数据要素的完整程度：校验未发现缺失要素的事件为完整。"
        "批次图谱事后补全（推导）的缺失仍计入发送方。按北京时间（Asia/Shanghai）计日。",
    "Share of each Asia/Shanghai day's events that carried every KDE.":
        "每天（北京时间）要素齐全的事件比例。",
    "Events, events with every KDE and their share per sender (actor id), "
    "with the KDE the sender misses most often.":
        "每个发送方（actor id）的事件数、要素齐全事件数及比例，以及最常缺失的要素。",
    "The category of an event's first product; unknown: that product has no "
    "master data yet.":
        "事件第一个产品的类别；unknown：该产品尚无主数据。",
    "Each sender's five most frequent missing KDEs with their 21 CFR section; "
    "derived: later filled in by the lot graph (still the sender's gap).":
        "每个发送方最常缺失的五项要素及其 21 CFR 条款；derived：事后由批次图谱补全（仍计为发送方缺失）。",
    # annotations
    "Alerts": "告警",
}
