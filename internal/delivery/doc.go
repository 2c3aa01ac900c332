// Package delivery owns getting a message to a person: one Sender per channel (email, sms,
// voice) behind one interface, so the code factor never knows which provider carries it.
//
// What it holds:
//   - Message and Sender, and Router, which sends each message to the Sender for its channel;
//   - Outbox, the dev-mode sender for every channel (nothing leaves the machine);
//   - SMTP for email (STARTTLS or implicit TLS, AUTH PLAIN, multipart text + HTML);
//   - Twilio for SMS and voice calls (the Twilio REST API shape), the TwiML a call reads, and the
//     check of Twilio's signed status and key-press callbacks;
//   - Webhook, a signed JSON POST so a hospital can plug in its own gateway;
//   - Retry, which retries transient failures with exponential backoff and jitter, and turns the
//     final failure into an *Error that carries a message for the person apart from the detail
//     for the log;
//   - SMSBody, which writes the text of a code message in the origin-bound format browsers and
//     phones autofill (WebOTP, iOS).
//
// What it does not: choose the code, count sends, pick a channel, or serve HTTP pages; the
// factor (internal/factor/otp) and the login handlers do. Callback URLs are the handlers'; this
// package only signs and verifies what crosses them.
//
// Unlike the models in STYLE.md, a provider here is a plain struct of settings with no
// constructor: the zero values of the optional fields are the safe defaults, and tests point
// BaseURL (or Host and Port) at a fake on 127.0.0.1.
package delivery
