"""Matching's refusals, each a problem type with a reason an elder or volunteer can read."""

from __future__ import annotations

from servicekit.errors import Conflict, Forbidden, NotFound, UnprocessableInput
from servicekit.geo import OutsideBeijing  # noqa: F401  (one problem type for every service)


class UnknownItem(UnprocessableInput):
    type = "unknown-service-item"
    title_zh, title_en = "服务项目不存在或已停用", "Unknown or retired service item"


class BadWindow(UnprocessableInput):
    type = "invalid-service-window"
    title_zh, title_en = "服务时间不符合要求", "Invalid service window"


class RequestNotFound(NotFound):
    type = "request-not-found"
    title_zh, title_en = "需求不存在", "No such request"


class WrongState(Conflict):
    type = "request-state-conflict"
    title_zh, title_en = "需求当前状态不允许此操作", "Not allowed in the request's current state"


class NotEligibleVolunteer(Forbidden):
    type = "not-an-eligible-volunteer"
    title_zh, title_en = "您目前不是可接单的志愿者", "You are not currently an eligible volunteer"


class OwnOrRelativesRequest(Forbidden):
    type = "own-or-relatives-request"
    title_zh, title_en = "不能预约本人或直系亲属的需求", "You cannot book your own or a direct relative's request"


class OverlappingBooking(Conflict):
    type = "overlapping-booking"
    title_zh, title_en = "同一时段您已有其他预约", "You already have a booking in that time period"


class NotForMinors(Forbidden):
    type, title_zh, title_en = "not-for-minors", "未成年志愿者不能预约该服务", "Not a service a minor may book"


class AccountClosing(Conflict):
    type = "account-closing"
    title_zh, title_en = "账户正在注销中，不能发起新的服务", "The account is being closed: nothing new starts"


class QualificationRequired(Forbidden):
    type = "qualification-required"
    title_zh, title_en = (
        "该服务须由持有相应专业资格的志愿者承接",
        "The service needs a volunteer with a professional qualification",
    )


class GuardianMustAccompany(Conflict):
    type = "guardian-must-accompany"
    title_zh, title_en = (
        "未成年志愿者须由监护人陪同：请监护人先预约同一服务",
        "A minor volunteers accompanied by a guardian: the guardian books the same request first",
    )


class FullyBooked(Conflict):
    type = "fully-booked"
    title_zh, title_en = "该需求已约满", "The request is fully booked"


class TooFarFromPlace(UnprocessableInput):
    type = "too-far-from-place"
    title_zh, title_en = "签到位置距离服务地点太远", "Too far from the place of service"


class OutsideWindow(Conflict):
    type = "outside-service-window"
    title_zh, title_en = "不在可签到/签出的时间范围内", "Outside the time allowed to sign in or out"


class OutsideDistrict(Forbidden):
    type = "outside-district"
    title_zh, title_en = "只能处理本区的事务", "Only your own district's matters"
