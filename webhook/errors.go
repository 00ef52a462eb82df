package webhook

import (
	"errors"
	"fmt"
)

// Code classifies an error for callers: the API maps each code to one HTTP
// status, activities map them to retry or fail.
type Code string

const (
	EInvalid      Code = "invalid_request"   // malformed request: bad JSON, bad query parameter
	EValidation   Code = "validation_failed" // well-formed but not acceptable; Details lists the fields
	ENotFound     Code = "not_found"
	EUnauthorized Code = "unauthorized" // no API key, or not a valid one
	EForbidden    Code = "forbidden"    // a valid API key whose scopes do not allow it
	EConflict     Code = "conflict"
	ETooLarge     Code = "payload_too_large"
	EUnsupported  Code = "unsupported_media_type" // a compressed body, say
	ERateLimited  Code = "rate_limited"           // a webhook's rate limit has no room now
	EUnavailable  Code = "unavailable"            // a dependency (Temporal, the database) cannot be reached
	EInternal     Code = "internal"
)

// Error is Herald's error with a code, a message safe to show to API callers,
// and optional structured details.
type Error struct {
	Code    Code
	Message string
	Details any
}

func (e *Error) Error() string { return string(e.Code) + ": " + e.Message }

// Errorf builds an *Error with a formatted message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the first *Error in err's chain, EInternal for
// any other non-nil error, and "" for nil.
func ErrorCode(err error) Code {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EInternal
}

// FieldError names one invalid input field and why.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// FieldErrors collects validation failures in input order.
type FieldErrors []FieldError

func (fe *FieldErrors) Add(field, format string, args ...any) {
	*fe = append(*fe, FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
}

// Err returns nil when nothing was added, else a validation *Error whose
// message names the first problem and whose details list all of them.
func (fe FieldErrors) Err(what string) error {
	if len(fe) == 0 {
		return nil
	}
	msg := fmt.Sprintf("%s is invalid: %s: %s", what, fe[0].Field, fe[0].Message)
	if len(fe) > 1 {
		msg += fmt.Sprintf(" (and %d more)", len(fe)-1)
	}
	return &Error{Code: EValidation, Message: msg, Details: []FieldError(fe)}
}
