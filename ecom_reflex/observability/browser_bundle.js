
// ---- ecom_reflex additions (ecom_reflex/observability/browser_bundle.js) ----
// Appended by ShopOtelPlugin to reflex-otel's browser module, so it shares that module's
// `tracer`, `propagator`, `context` and `epoch`. It adds what the shop's relay turns into
// metrics (ecom_reflex/observability/browser_relay.py): the page of every span, the time
// from an event being sent to the page showing a change, and script errors.

// Connects counted before this module loaded (browser_loader.js): a later one is a reconnect.
connectCount = window.__shop_otel_early?.connects ?? 0;

// The page a span was made on (`url.path`): the relay maps it to the page's route.
// Web vitals belong to the document's first page: web-vitals reports the CLS and INP of a
// document when it is hidden, which may be after client-side navigation to another page.
const landingPath = window.location.pathname;
const startSpanOnPage = tracer.startSpan.bind(tracer);
tracer.startSpan = (name, options = {}, parentContext = undefined) =>
  startSpanOnPage(
    name,
    {
      ...options,
      attributes: {
        "url.path": name.startsWith("web_vital.")
          ? landingPath
          : window.location.pathname,
        ...options.attributes,
      },
    },
    parentContext,
  );

// Click to answer: from an event being sent to the next paint after the page's content
// changed (elements or text; attribute flicker such as focus rings does not count). An
// update does not say which event it answers, so the first change after a send answers
// every send still waiting: what the shopper saw happen. A send that nothing visible
// answers within ANSWER_TIMEOUT_MS is not measured, nor are sends beyond the MAX_WAITING newest.
const ANSWER_TIMEOUT_MS = 15000;
const MAX_WAITING = 100;
const waiting = [];
const traceparentGetter = {
  get: (carrier, key) => carrier[key],
  keys: (carrier) => Object.keys(carrier),
};

const reportAnswers = (answeredAt) => {
  const now = performance.now();
  while (waiting.length > 0) {
    const send = waiting.shift();
    if (now - send.sentAt > ANSWER_TIMEOUT_MS) {
      continue;
    }
    // A child of the event's PRODUCER span: the answer sits in the click's own trace.
    const parent = send.traceparent
      ? propagator.extract(
          context.active(),
          { traceparent: send.traceparent },
          traceparentGetter,
        )
      : context.active();
    tracer
      .startSpan(
        "ui.answer",
        {
          startTime: epoch(send.sentAt),
          attributes: { "reflex.event.name": send.name },
        },
        parent,
      )
      .end(epoch(answeredAt));
  }
};

let answerScheduled = false;
new MutationObserver(() => {
  if (waiting.length === 0 || answerScheduled) {
    return;
  }
  answerScheduled = true;
  // The change is on screen after the next frame is painted.
  requestAnimationFrame(() =>
    setTimeout(() => {
      answerScheduled = false;
      reportAnswers(performance.now());
    }, 0),
  );
}).observe(document.documentElement, {
  childList: true,
  characterData: true,
  subtree: true,
});

const sendEvent = window.__reflex_otel.onEventSend;
window.__reflex_otel.onEventSend = (event) => {
  sendEvent(event);
  if (waiting.length >= MAX_WAITING) {
    waiting.shift();
  }
  waiting.push({
    name: event.name,
    sentAt: performance.now(),
    traceparent: event.traceparent,
  });
};

// Script errors, by page (the message stays in the browser: it may hold anything).
const reportError = (type) =>
  tracer
    .startSpan("browser.error", {
      attributes: { "exception.type": String(type).slice(0, 100) },
    })
    .setStatus({ code: SpanStatusCode.ERROR })
    .end();
window.addEventListener("error", (error) =>
  reportError(error.error?.name ?? "Error"),
);
window.addEventListener("unhandledrejection", (rejection) =>
  reportError(rejection.reason?.name ?? "UnhandledRejection"),
);
