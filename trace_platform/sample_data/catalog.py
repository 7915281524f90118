"""The simulated world: tools (version, access class, confirmation, permission, policy, the side
effect they cause) with their arguments and outputs, agents and their versions and models, intents
with request texts, tenants, people, places and the other vocabulary traces are made of."""

from __future__ import annotations

from trace_platform.sample_data.constants import RO, SC

# name: (version, access, requires_confirmation, permission, policy, resource_type, operation, reversible)
TOOLS: dict[str, tuple] = {
    "lookup_order": ("2.4.1", RO, False, "orders:read", "orders-access@4", "order", None, None),
    "track_shipment": ("1.2.0", RO, False, "shipments:read", "orders-access@4", "shipment", None, None),
    "search_kb": ("5.0.2", RO, False, "kb:read", "kb-access@1", "article", None, None),
    "lookup_customer": ("3.1.0", RO, False, "customers:read", "pii-access@2", "customer", None, None),
    "refund_order": ("2.0.3", SC, True, "payments:refund", "refunds@3", "refund", "create", True),
    "update_address": (
        "1.4.0",
        SC,
        False,
        "customers:write",
        "customer-data@5",
        "customer_address",
        "update",
        True,
    ),
    "cancel_subscription": (
        "1.1.2",
        SC,
        True,
        "subscriptions:write",
        "subscriptions@2",
        "subscription",
        "update",
        True,
    ),
    "remove_payment_method": (
        "1.0.0",
        SC,
        True,
        "payments:write",
        "refunds@3",
        "payment_method",
        "delete",
        False,
    ),
    "send_email": ("4.2.0", SC, False, "email:send", "outbound-comms@6", "email", "send", False),
    "create_ticket": ("2.2.1", SC, False, "tickets:write", "helpdesk@1", "ticket", "create", True),
    "get_service_status": ("1.0.7", RO, False, "services:read", "observability@2", "service", None, None),
    "query_logs": ("3.3.0", RO, False, "logs:read", "observability@2", "log_query", None, None),
    "get_metrics": ("3.3.0", RO, False, "metrics:read", "observability@2", "metric", None, None),
    "restart_service": ("2.1.0", SC, True, "services:restart", "prod-change@7", "service", "execute", False),
    "scale_deployment": (
        "2.1.0",
        SC,
        False,
        "deployments:scale",
        "prod-change@7",
        "deployment",
        "update",
        True,
    ),
    "rotate_api_key": ("1.0.1", SC, True, "secrets:rotate", "secrets@3", "api_key", "execute", False),
    "page_oncall": ("1.5.0", SC, False, "pager:send", "incident@2", "page", "send", False),
    "search_crm": ("6.0.0", RO, False, "crm:read", "crm-access@3", "account", None, None),
    "create_lead": ("6.0.0", SC, False, "crm:write", "crm-access@3", "lead", "create", True),
    "generate_quote": ("2.0.0", RO, False, "pricing:read", "pricing@1", "quote", None, None),
    "send_quote": ("2.0.0", SC, True, "email:send", "outbound-comms@6", "email", "send", False),
    "check_calendar": ("1.3.0", RO, False, "calendar:read", "calendar@1", "calendar", None, None),
    "schedule_meeting": (
        "1.3.0",
        SC,
        False,
        "calendar:write",
        "calendar@1",
        "calendar_event",
        "create",
        True,
    ),
    "web_search": ("0.9.0", RO, False, "web:read", "egress@1", "web_page", None, None),
}
# Tools whose read always passes a policy check (personal data).
CHECKED_READS = {"lookup_customer", "search_crm"}

TOOL_STEP = {
    "lookup_order": "Look up the order",
    "track_shipment": "Get the carrier's tracking status",
    "search_kb": "Search the help centre",
    "lookup_customer": "Load the customer record",
    "refund_order": "Issue the refund",
    "update_address": "Update the shipping address",
    "cancel_subscription": "Cancel the subscription",
    "remove_payment_method": "Remove the stored card",
    "send_email": "Email the customer a confirmation",
    "create_ticket": "Open a support ticket",
    "get_service_status": "Check the service's health",
    "query_logs": "Search recent error logs",
    "get_metrics": "Read the service metrics",
    "restart_service": "Restart the service (rolling)",
    "scale_deployment": "Scale the deployment",
    "rotate_api_key": "Rotate the API key",
    "page_oncall": "Page the on-call engineer",
    "search_crm": "Find the account in the CRM",
    "create_lead": "Create the lead",
    "generate_quote": "Price the quote",
    "send_quote": "Send the quote",
    "check_calendar": "Find a free slot",
    "schedule_meeting": "Book the meeting",
}


def tool_args(tool: str, c: dict) -> dict:
    """A tool's arguments for a trace context (plain data: keys in a realistic order)."""
    if tool == "lookup_order":
        return {"order_id": c["order_id"], "include": ["items", "payments"]}
    if tool == "track_shipment":
        return {"order_id": c["order_id"], "carrier": c["carrier"]}
    if tool == "search_kb":
        return {"query": c["topic"], "top_k": 5, "locale": c["locale"]}
    if tool == "lookup_customer":
        return {"customer_id": c["customer_id"], "fields": ["name", "email", "address"]}
    if tool == "refund_order":
        return {
            "order_id": c["order_id"],
            "amount": {"value_cents": c["amount_cents"], "currency": c["currency"]},
            "reason": c["reason"],
        }
    if tool == "update_address":
        return {
            "customer_id": c["customer_id"],
            "address": {
                "street": c["street"],
                "city": c["city"],
                "postcode": c["postcode"],
                "country": c["country"],
            },
        }
    if tool == "cancel_subscription":
        return {"subscription_id": c["subscription_id"], "effective": "end_of_term", "refund_unused": False}
    if tool == "remove_payment_method":
        return {"customer_id": c["customer_id"], "card_last4": c["card_last4"]}
    if tool == "send_email":
        return {"to": c["email"], "template": c["email_template"], "locale": c["locale"]}
    if tool == "create_ticket":
        return {"customer_id": c["customer_id"], "subject": c["topic"], "priority": c["priority"]}
    if tool == "get_service_status":
        return {"service": c["service"], "environment": c["environment"]}
    if tool == "query_logs":
        return {"service": c["service"], "query": "level:error", "since_minutes": c["window_minutes"]}
    if tool == "get_metrics":
        return {"service": c["service"], "metric": c["metric"], "window_minutes": c["window_minutes"]}
    if tool == "restart_service":
        return {"service": c["service"], "environment": c["environment"], "strategy": "rolling"}
    if tool == "scale_deployment":
        return {"deployment": c["service"], "environment": c["environment"], "replicas": c["replicas"]}
    if tool == "rotate_api_key":
        return {"key_name": c["key_name"], "service": c["service"], "revoke_old_after_minutes": 60}
    if tool == "page_oncall":
        return {
            "team": c["team"],
            "severity": c["severity"],
            "summary": f"{c['service']}: {c['metric']} alert",
        }
    if tool == "search_crm":
        return {"company": c["company"], "limit": 3}
    if tool == "create_lead":
        return {
            "company": c["company"],
            "contact": {"name": c["contact"], "email": c["email"]},
            "source": "chat",
        }
    if tool == "generate_quote":
        return {"company": c["company"], "plan": c["plan"], "seats": c["seats"]}
    if tool == "send_quote":
        return {"to": c["email"], "quote_id": c["quote_id"], "valid_days": 30}
    if tool == "check_calendar":
        return {"participants": [c["email"], c["rep_email"]], "week": c["week"]}
    if tool == "schedule_meeting":
        return {
            "participants": [c["email"], c["rep_email"]],
            "start": c["meeting_start"],
            "duration_minutes": 30,
            "title": f"Intro call: {c['company']}",
        }
    return {"query": c["topic"]}  # web_search and unknown tools


def tool_output(tool: str, c: dict, resource_id: str) -> object:
    access = TOOLS[tool][1] if tool in TOOLS else RO
    if tool == "lookup_order":
        return {"order_id": c["order_id"], "status": c["order_status"], "total_cents": c["amount_cents"]}
    if tool == "track_shipment":
        return {"status": "in_transit", "eta": c["eta"], "carrier": c["carrier"]}
    if tool in ("search_kb", "web_search"):
        return {"results": [{"id": f"kb-{c['order_id'] % 9000 + 1000}", "title": c["topic"].capitalize()}]}
    if tool in ("get_metrics", "get_service_status"):
        return {"service": c["service"], "healthy": c["replicas"] % 3 != 0, "value": c["window_minutes"] * 7}
    if tool == "query_logs":
        return {"matches": c["replicas"] * 13, "top_error": "upstream connect error"}
    if access == SC:
        return {"id": resource_id, "status": "done"}
    return {"found": True}


# agent: versions, per-version (planner, selector) models, intents
MODELS = {
    ("support-bot", "3.2.0"): (("openai", "gpt-4o", "2024-08-06"), ("openai", "gpt-4o-mini", "2024-07-18")),
    ("support-bot", "3.3.0"): (
        ("anthropic", "claude-sonnet-4", "20250514"),
        ("anthropic", "claude-3-5-haiku", "20241022"),
    ),
    ("ops-agent", "1.9.4"): (("google", "gemini-1.5-pro", "002"), ("google", "gemini-1.5-flash", "002")),
    ("ops-agent", "2.0.0"): (
        ("anthropic", "claude-sonnet-4", "20250514"),
        ("mistral", "mistral-small", "2409"),
    ),
    ("sales-assistant", "0.8.1"): (
        ("openai", "gpt-4.1", "2025-04-14"),
        ("openai", "gpt-4.1-mini", "2025-04-14"),
    ),
    ("sales-assistant", "0.9.0"): (
        ("mistral", "mistral-large", "2411"),
        ("openai", "gpt-4.1-mini", "2025-04-14"),
    ),
}
MODERATION = ("openai", "omni-moderation", "2024-09-26")
AGENT_VERSIONS = {
    "support-bot": ("3.2.0", "3.3.0"),
    "ops-agent": ("1.9.4", "2.0.0"),
    "sales-assistant": ("0.8.1", "0.9.0"),
}
# intent: (steps, request texts, success output)
INTENTS: dict[str, dict[str, tuple]] = {
    "support-bot": {
        "refund_order": (
            ("lookup_order", "refund_order", "send_email"),
            (
                "I want a refund for order #{order_id}, it arrived damaged.",
                "Please refund order {order_id}. Wrong size and the return label doesn't work.",
                "Can I get my money back for order #{order_id}?",
                "Bestellung {order_id} ist kaputt angekommen – bitte erstatten.",
            ),
            "Your refund of {amount} for order #{order_id} is on its way; you'll get an email shortly.",
        ),
        "track_shipment": (
            ("lookup_order", "track_shipment"),
            (
                "Where is my package? Order #{order_id}",
                "order {order_id} still hasn't arrived, any update??",
                "Can you track order {order_id} for me",
            ),
            "Order #{order_id} is in transit with {carrier} and should arrive on {eta}.",
        ),
        "update_address": (
            ("lookup_customer", "update_address", "send_email"),
            (
                "I moved, please change my address to {street}, {postcode} {city}.",
                "Update my shipping address: {street}, {city} {postcode}",
            ),
            "Done: your address is now {street}, {postcode} {city}.",
        ),
        "cancel_subscription": (
            ("lookup_customer", "cancel_subscription"),
            (
                "Cancel my subscription please.",
                "I don't use the premium plan anymore, how do I cancel?",
            ),
            "Your subscription ends at the end of the current term; you won't be charged again.",
        ),
        "remove_card": (
            ("lookup_customer", "remove_payment_method"),
            ("Remove the card ending {card_last4} from my account.",),
            "The card ending {card_last4} has been removed.",
        ),
        "product_question": (
            ("search_kb",),
            (
                "Does the {topic} work with iOS?",
                "How long is the warranty on the {topic}?",
                "Est-ce que le {topic} est compatible avec Android ?",
            ),
            "Here is what I found about the {topic}: see the help article linked below.",
        ),
        "open_ticket": (
            ("search_kb", "create_ticket"),
            ("My {topic} keeps disconnecting, nothing in the FAQ helps.",),
            "I opened a ticket about your {topic}; our team will reply within a day.",
        ),
    },
    "ops-agent": {
        "restart_service": (
            ("get_service_status", "query_logs", "restart_service"),
            (
                "{service} in {environment} is returning 502s, restart it",
                "please bounce {service} ({environment})",
            ),
            "{service} was restarted in {environment}; error rate is back to normal.",
        ),
        "scale_deployment": (
            ("get_metrics", "scale_deployment"),
            (
                "Scale {service} to {replicas} replicas in {environment}",
                "{service} latency is high, add capacity",
            ),
            "{service} now runs {replicas} replicas in {environment}.",
        ),
        "investigate_alert": (
            ("get_metrics", "query_logs", "page_oncall"),
            (
                "Alert: {metric} on {service} is firing, investigate",
                "why is {service} slow right now?",
            ),
            "I found the likely cause in {service}'s logs and paged the {team} on-call.",
        ),
        "rotate_credentials": (
            ("rotate_api_key",),
            ("Rotate the {key_name} key for {service}, it leaked in a log.",),
            "The {key_name} key was rotated; the old one is revoked in 60 minutes.",
        ),
    },
    "sales-assistant": {
        "create_lead": (
            ("search_crm", "create_lead"),
            (
                "Add {contact} from {company} as a lead, met them at the expo.",
                "new lead: {company}, contact {contact} <{email}>",
            ),
            "{company} is in the CRM as a new lead, owned by you.",
        ),
        "send_quote": (
            ("search_crm", "generate_quote", "send_quote"),
            ("Send {company} a quote for {seats} seats on the {plan} plan.",),
            "The quote for {seats} {plan} seats was sent to {email}.",
        ),
        "schedule_meeting": (
            ("check_calendar", "schedule_meeting"),
            ("Book a 30 min intro with {contact} ({company}) next week.",),
            "Booked: intro call with {contact} on {meeting_start}.",
        ),
    },
}
TENANTS = (
    ("acme-retail", ("support-bot", "sales-assistant")),
    ("globex", ("support-bot", "ops-agent")),
    ("initech", ("ops-agent",)),
    ("umbrella-health", ("support-bot",)),
    ("stark-logistics", ("support-bot", "ops-agent", "sales-assistant")),
)
USERS_PER_TENANT = 60
CHANNELS = {
    "support-bot": ("web", "web", "mobile", "email"),
    "ops-agent": ("slack", "slack", "cli"),
    "sales-assistant": ("web", "slack"),
}
WRONG_TOOLS = {
    "support-bot": ("web_search", "order_lookup_v1"),
    "ops-agent": ("web_search", "kubectl_exec"),
    "sales-assistant": ("web_search", "hubspot_search"),
}
FIRST_NAMES = (
    "Ana",
    "Ben",
    "Chloé",
    "Dmitri",
    "Emeka",
    "Fatima",
    "Giulia",
    "Hiro",
    "Ines",
    "Jonas",
    "Kofi",
    "Lena",
)
LAST_NAMES = ("Silva", "Okafor", "Müller", "Nguyen", "Rossi", "Kowalski", "Tanaka", "Haddad", "Berg", "Costa")
COMPANIES = ("Northwind", "Contoso", "Fabrikam", "Tailspin", "Wingtip", "Litware", "Adatum", "Proseware")
CITIES = (
    ("Berlin", "10115", "DE"),
    ("Lyon", "69001", "FR"),
    ("Leeds", "LS1 4DY", "GB"),
    ("Porto", "4000-322", "PT"),
    ("Austin", "78701", "US"),
    ("Kraków", "31-000", "PL"),
)
STREETS = ("Hauptstraße 12", "12 rue de la Paix", "4 Park Row", "Rua das Flores 88", "1200 Congress Ave")
TOPICS = ("wireless earbuds", "smart thermostat", "robot vacuum", "fitness tracker", "4K webcam", "e-reader")
SERVICES = ("checkout-api", "search-svc", "payments-gw", "auth-service", "inventory", "notifications")
METRICS = ("p95_latency_ms", "error_rate", "cpu_utilisation", "queue_depth")
FEEDBACK_COMMENTS = {
    1: ("Quick and easy, thanks!", "perfect", "Solved my problem."),
    0: ("ok", "Took a while but fine."),
    -1: ("It didn't do what I asked.", "Wrong order!", "Too many confirmations.", "useless"),
}
BAD_PARAMETER_ERRORS = ("invalid_parameters", "invalid_arguments", "validation_error", "bad_request")
FINAL_TEXT = {
    "partial": "I completed part of this, but {step} did not go through. A colleague will follow up.",
    "failure": "Sorry, I couldn't complete this: {step} failed. Nothing else was changed.",
    "abandoned": "Okay, I stopped here; nothing was changed.",
}
