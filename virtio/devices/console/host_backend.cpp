// SPDX-License-Identifier: Apache-2.0
// A PortBackend over a vmm::Console.
#include "virtio/devices/console/host_backend.hpp"

#include <utility>

namespace vmm::virtio {
namespace {

class HostBackend final : public PortBackend {
public:
    // The console's callbacks are fixed when it opens, before the device exists to receive
    // them, so they go through `events`, which start() fills in.
    HostBackend(std::shared_ptr<Events> events, std::unique_ptr<Console> console)
        : events_(std::move(events))
        , console_(std::move(console))
        , sink_(console_->sink())
    {
    }

    ~HostBackend() override
    {
        *events_ = {}; // the console may still hand over a completion while it closes
        console_.reset();
    }

    HostBackend(const HostBackend&) = delete;
    HostBackend& operator=(const HostBackend&) = delete;

    void start(Events events) override { *events_ = std::move(events); }
    void write(std::span<const std::byte> data) noexcept override { sink_->write(data); }
    void set_input_paused(bool paused) noexcept override { console_->set_input_paused(paused); }
    [[nodiscard]] bool connected() const noexcept override { return console_->connected(); }
    [[nodiscard]] std::filesystem::path pty_path() const override { return console_->pty_path(); }

private:
    std::shared_ptr<Events> events_;
    std::unique_ptr<Console> console_;
    std::shared_ptr<CharSink> sink_;
};

} // namespace

Result<std::unique_ptr<PortBackend>> open_host_backend(
    boost::asio::io_context& io, const ConsoleSpec& spec, std::function<void()> on_quit)
{
    auto events = std::make_shared<PortBackend::Events>();
    ConsoleCallbacks callbacks;
    callbacks.on_input = [events](std::span<const std::byte> data) {
        if (events->on_input) {
            events->on_input(data);
        }
    };
    callbacks.on_connection = [events](bool connected) {
        if (events->on_connection) {
            events->on_connection(connected);
        }
    };
    callbacks.on_quit = std::move(on_quit);
    auto console = VMM_TRY(open_console(io, spec, std::move(callbacks)));
    return std::unique_ptr<PortBackend>(std::make_unique<HostBackend>(std::move(events), std::move(console)));
}

} // namespace vmm::virtio
