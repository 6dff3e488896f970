import HTTPTypes
import NIOCore
import NIOHTTPTypes

/// Plays the connection-level faults (``SimulatorFault/drop``, ``SimulatorFault/truncate``,
/// ``SimulatorFault/dropAfterApplying``) that a route cannot express with a response.
///
/// It sits after the HTTP codec, on the outbound path of `HTTPResponsePart`s. A route marks its
/// response with the internal ``marker`` header; this handler strips the header and then either
/// closes the connection instead of writing anything (drop), or writes the head with the full
/// `Content-Length` and only half the body before closing (truncate). Unmarked responses pass
/// through untouched.
final class FaultInjectionHandler: ChannelOutboundHandler, RemovableChannelHandler {
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    /// The internal header a route sets; never sent on the wire.
    static let marker = HTTPField.Name("x-keyward-simulator-fault")!

    enum Action: String {
        case drop
        case truncate
    }

    private enum Mode {
        case passThrough
        /// Writing a cut-off body: this many bytes of it still go out.
        case truncating(keep: Int)
        /// The connection is closing: swallow the rest of the response.
        case discarding
    }

    private var mode = Mode.passThrough

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let part = unwrapOutboundIn(data)
        switch (mode, part) {
        case (.passThrough, .head(var head)):
            guard let value = head.headerFields[Self.marker], let action = Action(rawValue: value) else {
                context.write(data, promise: promise)
                return
            }
            head.headerFields[Self.marker] = nil
            switch action {
            case .drop:
                mode = .discarding
                promise?.succeed()
                context.close(promise: nil)
            case .truncate:
                let length = head.headerFields[.contentLength].flatMap { Int($0) } ?? 0
                mode = .truncating(keep: length / 2)
                context.write(wrapOutboundOut(.head(head)), promise: promise)
            }
        case (.passThrough, _):
            context.write(data, promise: promise)
        case (.truncating(let keep), .body(var buffer)):
            let slice = buffer.readSlice(length: min(keep, buffer.readableBytes)) ?? ByteBuffer()
            mode = .discarding
            promise?.succeed()
            closeAfterFlushing(context: context, last: .body(slice))
        case (.truncating, .end), (.truncating, .head):
            mode = .discarding
            promise?.succeed()
            closeAfterFlushing(context: context, last: nil)
        case (.discarding, _):
            promise?.succeed()
        }
    }

    /// Writes `last` (if any), flushes, and closes once the bytes are on their way, so the
    /// client sees the partial body before the end of the stream.
    private func closeAfterFlushing(context: ChannelHandlerContext, last: HTTPResponsePart?) {
        let flushed = context.eventLoop.makePromise(of: Void.self)
        if let last {
            context.writeAndFlush(wrapOutboundOut(last), promise: flushed)
        } else {
            context.flush()
            flushed.succeed()
        }
        let loopBoundContext = NIOLoopBound(context, eventLoop: context.eventLoop)
        flushed.futureResult.whenComplete { _ in
            loopBoundContext.value.close(promise: nil)
        }
    }
}
