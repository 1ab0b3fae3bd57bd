//! The event service: a WS-BaseNotification pull point (`CreatePullPointSubscription`, `PullMessages`,
//! `Renew`, `Unsubscribe`), and notifications read into [`Event`]s with motion and tamper recognised.

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tracing::debug;

use crate::ptz::xs_duration;
use crate::soap::{Call, SoapClient, random_urn_uuid};
use crate::xml::{self, Element};
use crate::{Error, ns};

/// Options of a new pull-point subscription.
#[derive(Debug, Clone)]
pub struct PullPointOptions {
    /// Requested lifetime, renewed with [`PullPointSubscription::renew`] (default 60 s). Devices may
    /// shorten it.
    pub lifetime: Duration,
    /// Topic filter (a `tev` `TopicExpression`, ConcreteSet dialect, e.g.
    /// `tns1:RuleEngine/CellMotionDetector//.`); all topics when `None`.
    pub topic_filter: Option<String>,
}

impl Default for PullPointOptions {
    fn default() -> Self {
        Self {
            lifetime: Duration::from_secs(60),
            topic_filter: None,
        }
    }
}

/// What an event is about, as far as Vigil cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// Motion detection (cell motion, motion alarm, video motion detection).
    Motion,
    /// Camera tampering (tamper, scene change, covered, defocused).
    Tamper,
    /// Anything else.
    Other,
}

/// One notification.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Event {
    /// The topic as the device wrote it, e.g. `tns1:RuleEngine/CellMotionDetector/Motion`.
    pub topic: String,
    /// Motion, tamper or other, from the topic.
    pub kind: EventKind,
    /// The device's `UtcTime` of the event, as written (ISO 8601).
    pub time: Option<String>,
    /// `Initialized`, `Changed` or `Deleted` (property events), when given.
    pub property_operation: Option<String>,
    /// `Source` simple items (which video source or rule), as (name, value).
    pub source: Vec<(String, String)>,
    /// `Key` simple items, as (name, value).
    pub key: Vec<(String, String)>,
    /// `Data` simple items (the state: `IsMotion`, `State`, `IsTamper`), as (name, value).
    pub data: Vec<(String, String)>,
}

impl Event {
    /// The topic without namespace prefixes, e.g. `RuleEngine/CellMotionDetector/Motion`.
    pub fn topic_path(&self) -> String {
        self.topic
            .split('/')
            .map(|seg| seg.rsplit(':').next().unwrap_or(seg))
            .collect::<Vec<_>>()
            .join("/")
    }

    /// The state the event reports: the first boolean `Data` item (`true`/`false`/`1`/`0`), if any. For
    /// motion and tamper events, `Some(true)` means it started and `Some(false)` that it ended.
    pub fn active(&self) -> Option<bool> {
        self.data
            .iter()
            .find_map(|(_, v)| match v.trim().to_ascii_lowercase().as_str() {
                "true" | "1" => Some(true),
                "false" | "0" => Some(false),
                _ => None,
            })
    }

    /// The event time parsed, when it is valid ISO 8601 with an offset.
    pub fn timestamp(&self) -> Option<jiff::Timestamp> {
        self.time.as_deref()?.parse().ok()
    }
}

/// A live pull-point subscription. `Send + Sync`; poll it in a loop with [`PullPointSubscription::pull`]
/// (which blocks up to its wait) and renew it before [`PullPointSubscription::termination_time`]. Dropping it
/// does not unsubscribe (no network in `drop`); call [`PullPointSubscription::unsubscribe`], or let it
/// expire.
#[derive(Debug)]
pub struct PullPointSubscription {
    client: Arc<SoapClient>,
    address: String,
    /// WS-Addressing reference parameters to echo as headers (raw XML), with their namespaces.
    reference_parameters: String,
    reference_xmlns: Vec<(String, String)>,
    termination_time: Option<String>,
}

impl PullPointSubscription {
    pub(crate) fn create(
        client: Arc<SoapClient>,
        url: &str,
        options: &PullPointOptions,
    ) -> Result<Self, Error> {
        let filter = options
            .topic_filter
            .as_deref()
            .map(|t| {
                format!(
                    concat!(
                        "<tev:Filter><wsnt:TopicExpression ",
                        r#"Dialect="http://www.onvif.org/ver10/tev/topicExpression/ConcreteSet" "#,
                        r#"xmlns:tns1="http://www.onvif.org/ver10/topics">{}</wsnt:TopicExpression></tev:Filter>"#
                    ),
                    xml::escape(t)
                )
            })
            .unwrap_or_default();
        let body = format!(
            "<tev:CreatePullPointSubscription>{filter}<tev:InitialTerminationTime>{}</tev:InitialTerminationTime></tev:CreatePullPointSubscription>",
            xs_duration(options.lifetime)
        );
        let action = ns::events("EventPortType/CreatePullPointSubscriptionRequest");
        let header = addressing_header(&action, url);
        let r = client.call(&Call {
            header: &header,
            ..Call::new(url, &action, &body)
        })?;
        let reference = parse_subscription(&r).ok_or_else(|| Error::Unexpected {
            url: url.to_string(),
            action: "CreatePullPointSubscription".into(),
            detail: "no SubscriptionReference/Address in the answer".into(),
        })?;
        debug!(address = %reference.address, "pull-point subscription created");
        Ok(Self {
            client,
            address: reference.address,
            reference_parameters: reference.parameters,
            reference_xmlns: reference.xmlns,
            termination_time: reference.termination_time,
        })
    }

    /// The subscription's address (the URL pulled from).
    pub fn address(&self) -> &str {
        &self.address
    }

    /// When the device will end the subscription unless renewed, as it wrote it.
    pub fn termination_time(&self) -> Option<&str> {
        self.termination_time.as_deref()
    }

    /// Waits up to `wait` for at most `limit` notifications and returns them (empty when none came). The
    /// HTTP timeout is the client's plus `wait`.
    pub fn pull(&mut self, wait: Duration, limit: u32) -> Result<Vec<Event>, Error> {
        let body = format!(
            "<tev:PullMessages><tev:Timeout>{}</tev:Timeout><tev:MessageLimit>{}</tev:MessageLimit></tev:PullMessages>",
            xs_duration(wait),
            limit.max(1)
        );
        let r = self.call(
            &ns::events("PullPointSubscription/PullMessagesRequest"),
            &body,
            wait,
        )?;
        if let Some(t) = r.path_text(&["TerminationTime"]) {
            self.termination_time = Some(t);
        }
        Ok(parse_notifications(&r))
    }

    /// Extends the subscription by `lifetime` from now.
    pub fn renew(&mut self, lifetime: Duration) -> Result<(), Error> {
        let body = format!(
            "<wsnt:Renew><wsnt:TerminationTime>{}</wsnt:TerminationTime></wsnt:Renew>",
            xs_duration(lifetime)
        );
        let r = self.call(
            "http://docs.oasis-open.org/wsn/bw-2/SubscriptionManager/RenewRequest",
            &body,
            Duration::ZERO,
        )?;
        if let Some(t) = r.path_text(&["TerminationTime"]) {
            self.termination_time = Some(t);
        }
        Ok(())
    }

    /// Ends the subscription on the device.
    pub fn unsubscribe(self) -> Result<(), Error> {
        self.call(
            "http://docs.oasis-open.org/wsn/bw-2/SubscriptionManager/UnsubscribeRequest",
            "<wsnt:Unsubscribe/>",
            Duration::ZERO,
        )
        .map(drop)
    }

    fn call(&self, action: &str, body: &str, wait: Duration) -> Result<Element, Error> {
        let header = format!(
            "{}{}",
            addressing_header(action, &self.address),
            self.reference_parameters
        );
        self.client.call(&Call {
            header: &header,
            header_xmlns: &self.reference_xmlns,
            extra_wait: wait,
            ..Call::new(&self.address, action, body)
        })
    }
}

/// WS-Addressing `Action`, `MessageID` and `To`: many devices route event calls by them.
fn addressing_header(action: &str, to: &str) -> String {
    format!(
        "<wsa:Action>{}</wsa:Action><wsa:MessageID>{}</wsa:MessageID><wsa:To>{}</wsa:To>",
        xml::escape(action),
        random_urn_uuid(),
        xml::escape(to)
    )
}

/// The parts of a `CreatePullPointSubscriptionResponse`.
#[derive(Debug)]
struct SubscriptionReference {
    address: String,
    parameters: String,
    xmlns: Vec<(String, String)>,
    termination_time: Option<String>,
}

fn parse_subscription(r: &Element) -> Option<SubscriptionReference> {
    let reference = r.find("SubscriptionReference")?;
    let address = reference.path_text(&["Address"])?;
    let (parameters, xmlns) = match r.find_with_scope("ReferenceParameters") {
        Some((p, scope)) => (p.inner_raw.trim().to_string(), scope),
        None => (String::new(), Vec::new()),
    };
    Some(SubscriptionReference {
        address,
        parameters,
        xmlns,
        termination_time: r.path_text(&["TerminationTime"]),
    })
}

/// The notifications of a `PullMessagesResponse` (or any element holding `NotificationMessage`s).
pub(crate) fn parse_notifications(r: &Element) -> Vec<Event> {
    let mut messages = Vec::new();
    r.find_all("NotificationMessage", &mut messages);
    messages.into_iter().map(parse_notification).collect()
}

fn parse_notification(n: &Element) -> Event {
    let topic = n.path_text(&["Topic"]).unwrap_or_default();
    // NotificationMessage/Message/Message (tt:Message inside wsnt:Message).
    let message = n.child("Message").map(|m| m.child("Message").unwrap_or(m));
    let items = |part: &str| -> Vec<(String, String)> {
        message
            .and_then(|m| m.child(part))
            .map(|p| {
                p.children_named("SimpleItem")
                    .map(|i| {
                        (
                            i.attr("Name").unwrap_or_default().to_string(),
                            i.attr("Value").unwrap_or_default().to_string(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    Event {
        kind: kind_of(&topic),
        time: message.and_then(|m| m.attr("UtcTime")).map(str::to_string),
        property_operation: message
            .and_then(|m| m.attr("PropertyOperation"))
            .map(str::to_string),
        source: items("Source"),
        key: items("Key"),
        data: items("Data"),
        topic,
    }
}

fn kind_of(topic: &str) -> EventKind {
    let t = topic.to_ascii_lowercase();
    if [
        "tamper",
        "globalscenechange",
        "imagetooblurry",
        "imagetoodark",
        "imagetoobright",
        "defocus",
    ]
    .iter()
    .any(|k| t.contains(k))
    {
        EventKind::Tamper
    } else if t.contains("motion") {
        EventKind::Motion
    } else {
        EventKind::Other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(doc: &str) -> Element {
        crate::soap::body_element(&xml::parse(doc).unwrap()).unwrap()
    }

    /// Shaped like a Hikvision answer: cell motion and tamper, `tt:`/`wsnt:`/`tns1:` prefixes.
    const HIKVISION_PULL: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope" xmlns:wsnt="http://docs.oasis-open.org/wsn/b-2" xmlns:tev="http://www.onvif.org/ver10/events/wsdl" xmlns:tt="http://www.onvif.org/ver10/schema" xmlns:tns1="http://www.onvif.org/ver10/topics">
<env:Body><tev:PullMessagesResponse>
<tev:CurrentTime>2024-05-01T10:00:05Z</tev:CurrentTime><tev:TerminationTime>2024-05-01T10:01:05Z</tev:TerminationTime>
<wsnt:NotificationMessage><wsnt:Topic Dialect="http://www.onvif.org/ver10/tev/topicExpression/ConcreteSet">tns1:RuleEngine/CellMotionDetector/Motion</wsnt:Topic>
<wsnt:Message><tt:Message UtcTime="2024-05-01T10:00:04Z" PropertyOperation="Changed">
<tt:Source><tt:SimpleItem Name="VideoSourceConfigurationToken" Value="VideoSourceToken"/><tt:SimpleItem Name="VideoAnalyticsConfigurationToken" Value="VideoAnalyticsToken"/><tt:SimpleItem Name="Rule" Value="MyMotionDetectorRule"/></tt:Source>
<tt:Data><tt:SimpleItem Name="IsMotion" Value="true"/></tt:Data></tt:Message></wsnt:Message></wsnt:NotificationMessage>
<wsnt:NotificationMessage><wsnt:Topic Dialect="http://www.onvif.org/ver10/tev/topicExpression/ConcreteSet">tns1:RuleEngine/TamperDetector/Tamper</wsnt:Topic>
<wsnt:Message><tt:Message UtcTime="2024-05-01T10:00:04Z" PropertyOperation="Changed">
<tt:Source><tt:SimpleItem Name="VideoSourceConfigurationToken" Value="VideoSourceToken"/></tt:Source>
<tt:Data><tt:SimpleItem Name="IsTamper" Value="false"/></tt:Data></tt:Message></wsnt:Message></wsnt:NotificationMessage>
</tev:PullMessagesResponse></env:Body></env:Envelope>"#;

    /// Shaped like an Axis answer: `SOAP-ENV`, `wsnt`, `tns1`, `tnsaxis` topics, `tt:Key`.
    const AXIS_PULL: &str = r#"<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://www.w3.org/2003/05/soap-envelope" xmlns:wsnt="http://docs.oasis-open.org/wsn/b-2" xmlns:tt="http://www.onvif.org/ver10/schema" xmlns:tnsaxis="http://www.axis.com/2009/event/topics" xmlns:tns1="http://www.onvif.org/ver10/topics" xmlns:tev="http://www.onvif.org/ver10/events/wsdl">
<SOAP-ENV:Body><tev:PullMessagesResponse><tev:CurrentTime>2024-05-01T10:00:05Z</tev:CurrentTime><tev:TerminationTime>2024-05-01T10:01:05Z</tev:TerminationTime>
<wsnt:NotificationMessage><wsnt:Topic Dialect="http://docs.oasis-open.org/wsn/t-1/TopicExpression/Simple">tns1:VideoSource/tnsaxis:MotionAlarm</wsnt:Topic>
<wsnt:Message><tt:Message UtcTime="2024-05-01T10:00:03.123456Z" PropertyOperation="Initialized"><tt:Source><tt:SimpleItem Name="VideoSourceConfigurationToken" Value="0"/></tt:Source>
<tt:Key></tt:Key><tt:Data><tt:SimpleItem Name="State" Value="0"/></tt:Data></tt:Message></wsnt:Message></wsnt:NotificationMessage>
<wsnt:NotificationMessage><wsnt:Topic Dialect="http://docs.oasis-open.org/wsn/t-1/TopicExpression/Simple">tns1:Device/tnsaxis:IO/VirtualInput</wsnt:Topic>
<wsnt:Message><tt:Message UtcTime="2024-05-01T10:00:03Z"><tt:Source><tt:SimpleItem Name="port" Value="1"/></tt:Source><tt:Data><tt:SimpleItem Name="active" Value="1"/></tt:Data></tt:Message></wsnt:Message></wsnt:NotificationMessage>
</tev:PullMessagesResponse></SOAP-ENV:Body></SOAP-ENV:Envelope>"#;

    #[test]
    fn hikvision_motion_and_tamper() {
        let events = parse_notifications(&body(HIKVISION_PULL));
        assert_eq!(events.len(), 2);
        let m = &events[0];
        assert_eq!(m.kind, EventKind::Motion);
        assert_eq!(m.topic_path(), "RuleEngine/CellMotionDetector/Motion");
        assert_eq!(m.time.as_deref(), Some("2024-05-01T10:00:04Z"));
        assert_eq!(m.timestamp().map(|t| t.as_second()), Some(1714557604));
        assert_eq!(m.property_operation.as_deref(), Some("Changed"));
        assert_eq!(m.source.len(), 3);
        assert_eq!(
            m.source[2],
            ("Rule".to_string(), "MyMotionDetectorRule".to_string())
        );
        assert_eq!(m.active(), Some(true));
        assert_eq!(events[1].kind, EventKind::Tamper);
        assert_eq!(events[1].active(), Some(false));
    }

    #[test]
    fn axis_motion_alarm_and_other() {
        let events = parse_notifications(&body(AXIS_PULL));
        assert_eq!(events[0].kind, EventKind::Motion);
        assert_eq!(events[0].topic_path(), "VideoSource/MotionAlarm");
        assert_eq!(events[0].active(), Some(false));
        assert!(events[0].key.is_empty());
        assert!(events[0].timestamp().is_some());
        assert_eq!(events[1].kind, EventKind::Other);
        assert_eq!(events[1].active(), Some(true));
    }

    #[test]
    fn subscription_with_reference_parameters() {
        let r = body(
            r#"<env:Envelope xmlns:env="e" xmlns:tev="v" xmlns:wsnt="n" xmlns:wsa5="http://www.w3.org/2005/08/addressing" xmlns:dom0="urn:vendor">
            <env:Body><tev:CreatePullPointSubscriptionResponse>
            <tev:SubscriptionReference><wsa5:Address>http://10.0.0.7/onvif/services?subscription=42</wsa5:Address>
            <wsa5:ReferenceParameters><dom0:SubscriptionId>42</dom0:SubscriptionId></wsa5:ReferenceParameters></tev:SubscriptionReference>
            <wsnt:CurrentTime>2024-05-01T10:00:00Z</wsnt:CurrentTime><wsnt:TerminationTime>2024-05-01T10:01:00Z</wsnt:TerminationTime>
            </tev:CreatePullPointSubscriptionResponse></env:Body></env:Envelope>"#,
        );
        let s = parse_subscription(&r).unwrap();
        assert_eq!(s.address, "http://10.0.0.7/onvif/services?subscription=42");
        assert_eq!(
            s.parameters,
            "<dom0:SubscriptionId>42</dom0:SubscriptionId>"
        );
        assert!(
            s.xmlns
                .contains(&("dom0".to_string(), "urn:vendor".to_string()))
        );
        assert_eq!(s.termination_time.as_deref(), Some("2024-05-01T10:01:00Z"));
        assert!(
            parse_subscription(&body(r#"<s:E xmlns:s="x"><s:Body><x/></s:Body></s:E>"#)).is_none()
        );
    }

    #[test]
    fn pull_request_echoes_reference_parameters_with_their_namespaces() {
        let client = Arc::new(SoapClient::new(
            Some(crate::Credentials::new("u", "p")),
            &Default::default(),
        ));
        let subscription = PullPointSubscription {
            client: Arc::clone(&client),
            address: "http://10.0.0.7/onvif/services?subscription=42".into(),
            reference_parameters: "<dom0:SubscriptionId>42</dom0:SubscriptionId>".into(),
            reference_xmlns: vec![
                ("dom0".into(), "urn:vendor".into()),
                ("wsa".into(), "http://www.w3.org/2005/08/addressing".into()),
            ],
            termination_time: None,
        };
        let action = ns::events("PullPointSubscription/PullMessagesRequest");
        let header = format!(
            "{}{}",
            addressing_header(&action, subscription.address()),
            subscription.reference_parameters
        );
        let envelope = client.envelope(&Call {
            header: &header,
            header_xmlns: &subscription.reference_xmlns,
            ..Call::new(subscription.address(), &action, "<tev:PullMessages/>")
        });
        // The vendor prefix is declared once on the header; the standard `wsa` is not declared twice.
        assert!(
            envelope.contains(r#"<s:Header xmlns:dom0="urn:vendor">"#),
            "{envelope}"
        );
        assert_eq!(envelope.matches("xmlns:wsa=").count(), 1);
        let root = xml::parse(&envelope).unwrap();
        let h = root.child("Header").unwrap();
        assert_eq!(h.path_text(&["SubscriptionId"]).as_deref(), Some("42"));
        assert_eq!(
            h.path_text(&["To"]).as_deref(),
            Some(subscription.address())
        );
        assert_eq!(h.path_text(&["Action"]), Some(action));
        assert!(h.path(&["Security", "UsernameToken"]).is_some());
    }
}
