# Build a static Tessera binary (pure Go: no C toolchain needed) and run it from a minimal image.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /tessera ./cmd/tessera

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /tessera /tessera
USER nonroot
EXPOSE 8080
ENTRYPOINT ["/tessera"]
